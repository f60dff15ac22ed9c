"""What the simulated meter reports: OCPP 1.6 sampled values for a three-phase outlet."""

from datetime import datetime

VOLTAGE = 230.0
PHASES = ("L1", "L2", "L3")
BATTERY_WH = 60_000
START_SOC = 20.0


def watts_from_amps(amps: float, phases: int = len(PHASES)) -> float:
    return amps * VOLTAGE * phases


def amps_from_watts(watts: float, phases: int = len(PHASES)) -> float:
    return watts / (VOLTAGE * phases)


def _value(value: str, measurand: str, unit: str | None, context: str, location="Outlet", phase=None) -> dict:
    sample = {"value": value, "context": context, "measurand": measurand, "location": location}
    if unit is not None:  # Frequency has no unit in OCPP 1.6's list
        sample["unit"] = unit
    if phase is not None:
        sample["phase"] = phase
    return sample


def sampled_values(
    *,
    measurands: list[str],
    energy_wh: float,
    power_w: float,
    offered_w: float,
    session_wh: float = 0.0,
    context: str = "Sample.Periodic",
) -> list[dict]:
    """The `sampledValue` list for `measurands` (the ones a simple meter cannot
    measure are left out): energy register, power, current and voltage per phase."""
    per_phase_w = power_w / len(PHASES)
    values = []
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register":
            values.append(_value(str(int(energy_wh)), measurand, "Wh", context))
        elif measurand == "Power.Active.Import":
            values.append(_value(f"{power_w:.1f}", measurand, "W", context))
            values += [_value(f"{per_phase_w:.1f}", measurand, "W", context, phase=p) for p in PHASES]
        elif measurand == "Current.Import":
            amps = amps_from_watts(power_w)
            values += [_value(f"{amps:.2f}", measurand, "A", context, phase=p) for p in PHASES]
        elif measurand == "Voltage":
            values += [_value(f"{VOLTAGE:.1f}", measurand, "V", context, phase=f"{p}-N") for p in PHASES]
        elif measurand == "Power.Offered":
            values.append(_value(f"{offered_w:.1f}", measurand, "W", context))
        elif measurand == "Current.Offered":
            values.append(_value(f"{amps_from_watts(offered_w):.2f}", measurand, "A", context))
        elif measurand == "SoC":
            soc = min(100.0, START_SOC + 100.0 * session_wh / BATTERY_WH)
            values.append(_value(f"{soc:.0f}", measurand, "Percent", context, location="EV"))
        elif measurand == "Frequency":
            values.append(_value("50.0", measurand, None, context))
        elif measurand == "Temperature":
            values.append(_value("25.0", measurand, "Celsius", context, location="Body"))
    return values


def meter_value(at: datetime, sampled: list[dict]) -> dict:
    return {"timestamp": iso(at), "sampledValue": sampled}


def iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
