"""The simulated station's configuration keys (OCPP 1.6 section 9), as GetConfiguration
and ChangeConfiguration see them."""

from dataclasses import dataclass, field

from ocpp.v16.enums import Measurand

MEASURANDS = frozenset(m.value for m in Measurand)
FEATURE_PROFILES = "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"


@dataclass
class Key:
    value: str
    readonly: bool = False
    kind: str = "str"  # "int", "bool", "measurands" or "str": what a new value must parse as


def _keys(*, connectors: int, heartbeat_interval: int, meter_interval: int) -> dict[str, Key]:
    return {
        "AllowOfflineTxForUnknownId": Key("false", kind="bool"),
        "AuthorizationCacheEnabled": Key("true", kind="bool"),
        "AuthorizeRemoteTxRequests": Key("false", kind="bool"),
        "ChargeProfileMaxStackLevel": Key("10", readonly=True, kind="int"),
        "ChargingScheduleAllowedChargingRateUnit": Key("Current,Power", readonly=True),
        "ChargingScheduleMaxPeriods": Key("24", readonly=True, kind="int"),
        "ClockAlignedDataInterval": Key("0", kind="int"),
        "ConnectionTimeOut": Key("60", kind="int"),
        "ConnectorPhaseRotation": Key(",".join(f"{n}.RST" for n in range(connectors + 1))),
        "GetConfigurationMaxKeys": Key("50", readonly=True, kind="int"),
        "HeartbeatInterval": Key(str(heartbeat_interval), kind="int"),
        "LocalAuthListEnabled": Key("true", kind="bool"),
        "LocalAuthListMaxLength": Key("100", readonly=True, kind="int"),
        "LocalAuthorizeOffline": Key("true", kind="bool"),
        "LocalPreAuthorize": Key("false", kind="bool"),
        "MaxChargingProfilesInstalled": Key("10", readonly=True, kind="int"),
        "MeterValuesAlignedData": Key("Energy.Active.Import.Register", kind="measurands"),
        "MeterValuesSampledData": Key(
            "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage", kind="measurands"
        ),
        "MeterValueSampleInterval": Key(str(meter_interval), kind="int"),
        "NumberOfConnectors": Key(str(connectors), readonly=True, kind="int"),
        "ReserveConnectorZeroSupported": Key("false", readonly=True, kind="bool"),
        "ResetRetries": Key("3", kind="int"),
        "SendLocalListMaxLength": Key("100", readonly=True, kind="int"),
        "StopTransactionOnEVSideDisconnect": Key("true", kind="bool"),
        "StopTransactionOnInvalidId": Key("true", kind="bool"),
        "StopTxnAlignedData": Key("", kind="measurands"),
        "StopTxnSampledData": Key("Energy.Active.Import.Register", kind="measurands"),
        "SupportedFeatureProfiles": Key(FEATURE_PROFILES, readonly=True),
        "TransactionMessageAttempts": Key("3", kind="int"),
        "TransactionMessageRetryInterval": Key("60", kind="int"),
        "UnlockConnectorOnEVSideDisconnect": Key("true", kind="bool"),
        "WebSocketPingInterval": Key("0", kind="int"),
    }


def _valid(kind: str, value: str) -> bool:
    if kind == "int":
        return value.isdigit()
    if kind == "bool":
        return value.lower() in ("true", "false")
    if kind == "measurands":
        return all(m.strip() in MEASURANDS for m in value.split(",") if m.strip())
    return True


@dataclass
class Configuration:
    """Key table with OCPP's answers: unknown keys are `NotSupported`, read-only keys
    and values of the wrong type `Rejected`."""

    keys: dict[str, Key] = field(default_factory=dict)

    @classmethod
    def default(cls, *, connectors: int, heartbeat_interval: int = 300, meter_interval: int = 60):
        return cls(
            _keys(connectors=connectors, heartbeat_interval=heartbeat_interval, meter_interval=meter_interval)
        )

    def get(self, keys: list[str] | None = None) -> dict:
        """The GetConfiguration.conf payload (camelCase) for `keys` (all when empty)."""
        wanted = keys or list(self.keys)
        known = [k for k in wanted if k in self.keys]
        answer: dict = {
            "configurationKey": [
                {"key": k, "readonly": self.keys[k].readonly, "value": self.keys[k].value} for k in known
            ]
        }
        unknown = [k for k in wanted if k not in self.keys]
        if unknown:
            answer["unknownKey"] = unknown
        return answer

    def change(self, key: str, value: str) -> str:
        """Apply ChangeConfiguration; returns its status."""
        entry = self.keys.get(key)
        if entry is None:
            return "NotSupported"
        if entry.readonly or not _valid(entry.kind, value):
            return "Rejected"
        if entry.kind == "bool":
            value = value.lower()
        entry.value = value
        return "Accepted"

    def set(self, key: str, value) -> None:
        """Set a value from the station's side (e.g. the interval BootNotification gave)."""
        self.keys[key].value = str(value).lower() if isinstance(value, bool) else str(value)

    def as_int(self, key: str) -> int:
        return int(self.keys[key].value)

    def as_bool(self, key: str) -> bool:
        return self.keys[key].value == "true"

    def as_list(self, key: str) -> list[str]:
        return [item.strip() for item in self.keys[key].value.split(",") if item.strip()]
