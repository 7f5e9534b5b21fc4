"""The one comparison table: scenario, Portcullis, Postfix, ratio, target;
with the machine, the date and the settings. Printed to stdout and written
as Markdown (bench/results.md)."""

import statistics


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, kind):
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "ns":
        return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    if kind == "s":
        return f"{value:.2f}"
    return f"{value:,.{kind}f}" if isinstance(kind, int) else f"{value}"


class Row:
    """One line of the table. `better` is "higher" or "lower" (for the ratio's
    reading); `target` is (text, predicate on (pc, pf, ratio)) or None."""

    def __init__(self, scenario, pc, pf, kind, better, target=None):
        self.scenario, self.pc, self.pf, self.kind = scenario, pc, pf, kind
        self.better, self.target = better, target

    def ratio(self):
        if isinstance(self.pc, (int, float)) and isinstance(self.pf, (int, float)) and self.pf:
            return self.pc / self.pf
        return None

    def cells(self):
        r = self.ratio()
        if r is None:
            ratio = "—"
        elif r >= 0.01:
            ratio = f"{r:.2f}×"
        else:
            ratio = f"1/{1 / r:,.0f}"
        target = ""
        if self.target:
            text, met = self.target
            verdict = met(self.pc, self.pf, r)
            target = f"{text}: " + ("met" if verdict else "**not met**" if verdict is False else "n/a")
        return [self.scenario, fmt(self.pc, self.kind), fmt(self.pf, self.kind), ratio, target]


def markdown(rows, header_lines, notes):
    out = list(header_lines)
    out.append("")
    out.append("| scenario | Portcullis | Postfix | ratio (Portcullis ÷ Postfix) | target |")
    out.append("|---|---:|---:|---:|---|")
    for row in rows:
        out.append("| " + " | ".join(row.cells()) + " |")
    out.append("")
    out.extend(notes)
    return "\n".join(out) + "\n"
