"""The one comparison table: scenario, a column per server, a ratio
Portcullis ÷ peer per peer, target; with the machine, the date and the
settings. Printed to stdout and written as Markdown (bench/results.md)."""

import statistics


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    """(max - min) / median of the runs, or None with fewer than two."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return None
    return (max(values) - min(values)) / median(values)


def same_within_noise(runs_a, runs_b):
    """The verdict "the same within noise" on two variants' runs: their
    medians differ by no more than the larger spread of either's own runs."""
    a, b = median(runs_a), median(runs_b)
    noise = [s for s in (spread(runs_a), spread(runs_b)) if s is not None]
    if not noise or not a or b is None:
        return "n/a (one run each)"
    diff = abs(b / a - 1)
    return (f"{'met' if diff <= max(noise) else '**not met**'} "
            f"(medians differ by {diff:.0%}; runs spread up to {max(noise):.0%})")


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
    """One line of the table. `values` maps a server's name to its figure (a
    number, a string saying why there is none, or None); `better` is "higher"
    or "lower" (for the ratio's reading); `target` is (text, predicate on
    (Portcullis, Postfix, ratio to Postfix)) or None."""

    def __init__(self, scenario, values, kind, better, target=None):
        self.scenario, self.values, self.kind = scenario, values, kind
        self.better, self.target = better, target

    def ratio(self, peer):
        pc, other = self.values.get("Portcullis"), self.values.get(peer)
        if isinstance(pc, (int, float)) and isinstance(other, (int, float)) and other:
            return pc / other
        return None

    def cells(self, names):
        out = [self.scenario] + [fmt(self.values.get(n), self.kind) for n in names]
        for peer in names[1:]:
            r = self.ratio(peer)
            out.append("—" if r is None else f"{r:.2f}×" if r >= 0.01 else f"1/{1 / r:,.0f}")
        target = ""
        if self.target:
            text, met = self.target
            verdict = met(self.values.get("Portcullis"), self.values.get("Postfix"), self.ratio("Postfix"))
            target = f"{text}: " + ("met" if verdict else "**not met**" if verdict is False else "n/a")
        return out + [target]


def markdown(rows, names, header_lines, notes):
    """names: the servers' column order, Portcullis first."""
    out = list(header_lines)
    out.append("")
    out.append("| scenario | " + " | ".join(names) + " | "
               + " | ".join(f"÷ {n}" for n in names[1:]) + " | target |")
    out.append("|---|" + "---:|" * (2 * len(names) - 1) + "---|")
    for row in rows:
        out.append("| " + " | ".join(row.cells(names)) + " |")
    out.append("")
    out.extend(notes)
    return "\n".join(out) + "\n"
