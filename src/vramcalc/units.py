"""Parse what people type ("12B", "7.6b", "24 GiB", "32B-Q4_K_M", "8x7B", "30B-A3B") and format numbers.

All parsing is exact: decimal strings go through `Decimal`, never through binary floats, so "7.6B" is
7,600,000,000 and not 7,599,999,999.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from vramcalc.errors import UsageError

# Every parser strips its text first and refuses anything longer than MAX_VALUE_CHARS before a regex sees it; the
# regexes then have no two adjacent runs that can match the same characters (no backtracking: 100,000 spaces are
# rejected at once, they took 30 s).
MAX_VALUE_CHARS = 64
MAX_LABEL_CHARS = 256
MAX_EXPERTS = 65_536
MAX_COUNT = 10**16  # parameters: beyond any model
MAX_CONTEXT = 1 << 30  # tokens
MAX_RESOLUTION = 1 << 16  # pixels per side
COUNT_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}
_COUNT_RE = re.compile(r"^([0-9][0-9_,]*(?:\.[0-9]+)?(?:e[+-]?[0-9]{1,4})?)\s*([kmbgt]?)$", re.IGNORECASE)
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})*(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?", re.IGNORECASE)

SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_SIZE_RE = re.compile(r"^([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([a-z]*)$", re.IGNORECASE)

Units = Literal["gb", "gib"]
UNIT_DIVISOR: dict[str, int] = {"gb": 10**9, "gib": 2**30}
UNIT_LABEL: dict[str, str] = {"gb": "GB", "gib": "GiB"}

COUNT_EXAMPLES = '"12B", "7.6B", "135M", "350k", "1.5T", "12e9" or "12,000,000,000"'


def _to_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


def _shown(text: str, most: int = 40) -> str:
    """What the user typed, for an error message: repr'd, and cut where it is long."""
    return repr(text) if len(text) <= most else repr(text[:most]) + f"… ({len(text):,} characters)"


def _value_text(text: str, what: str, example: str, most: int = MAX_VALUE_CHARS) -> str:
    """`text` stripped, or a UsageError when it is longer than any such value."""
    stripped = text.strip()
    if len(stripped) > most:
        raise UsageError(f"cannot read {what} {_shown(text)}: too long for one", example)
    return stripped


def _decimal(digits: str) -> Decimal:
    """Digits with `,`/`_` separators as a Decimal (the regexes admit nothing else, exponents of ≤ 4 digits)."""
    return Decimal(digits.replace(",", "").replace("_", ""))


def parse_count(text: str, what: str = "parameter count") -> int:
    """"12B" → 12_000_000_000. Decimal suffixes (k, M, B/G, T); commas and underscores as separators."""
    example = f"write it like {COUNT_EXAMPLES}"
    m = _COUNT_RE.match(_value_text(text, what, example))
    if not m:
        raise UsageError(f"cannot read {what} {_shown(text)}", example)
    digits, suffix = m.groups()
    if "," in digits and not _GROUPED.fullmatch(digits):
        raise UsageError(f"cannot read {what} {_shown(text)}: misplaced comma", "write 12,000,000,000 or 12B")
    value = _decimal(digits) * COUNT_SUFFIXES[suffix.lower()]
    if value <= 0:
        raise UsageError(f"{what} must be positive, got {_shown(text)}", example)
    if value > MAX_COUNT:
        raise UsageError(f"{what} {_shown(text)} is beyond any model (over 10 quadrillion)", "check the suffix")
    if value < Decimal("0.5"):  # rounds to no parameter at all
        raise UsageError(f"{what} {_shown(text)} is less than one parameter", example)
    return _to_int(value)


def parse_size(text: str, what: str = "size", *, unit_required: bool = False) -> int:
    """"24GB" → 24e9 bytes, "24 GiB" → 24·2^30, "80G" → 80e9 (a bare G is decimal, as on spec sheets).

    unit_required: a bare number is refused instead of read as bytes (nobody means a 24-byte GPU)."""
    example = 'write it like "24GB", "24 GiB", "80G" or "512MiB"'
    m = _SIZE_RE.match(_value_text(text, what, example))
    if not m or m.group(2).lower() not in SIZE_UNITS:
        raise UsageError(f"cannot read {what} {_shown(text)}", example)
    if "," in m.group(1) and not _GROUPED.fullmatch(m.group(1)):  # "1,2,3GB" is not 123 GB
        raise UsageError(f"cannot read {what} {_shown(text)}: misplaced comma", 'write "24GB" or "1,024GiB"')
    if unit_required and m.group(2).lower() in ("", "b"):
        number = m.group(1) if _decimal(m.group(1)) < 1024 else "24"
        raise UsageError(f"{what} {_shown(text)} has no unit: a bare number is not read as bytes",
                         f'write it with one, e.g. "{number}GiB" (a card sold as "{number} GB" has {number} GiB) '
                         f'or "{number}GB"')
    value = _decimal(m.group(1)) * SIZE_UNITS[m.group(2).lower()]
    if value < 1:
        raise UsageError(f"{what} must be at least one byte, got {_shown(text)}", 'write it like "24GB"')
    if value > 1 << 60:
        raise UsageError(f"{what} {_shown(text)} is beyond any machine (over an exbibyte)", "check the unit")
    return _to_int(value)


def format_count(n: int) -> str:
    """Human form with three significant digits: 12_000_000_000 → "12B", 7_615_616_512 → "7.62B"."""
    for suffix, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(n) >= scale:
            value = n / scale
            text = f"{value:.3g}" if value < 1000 else f"{value:.0f}"
            return f"{text}{suffix}"
    return str(n)


def format_count_exact(n: int) -> str:
    """Shortest exact form: 12_000_000_000 → "12B", 7_615_616_512 → "7.615616512B". Parses back to n."""
    for suffix, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(n) >= scale:
            whole, frac = divmod(n, scale)
            digits = len(str(scale)) - 1
            tail = f"{frac:0{digits}d}".rstrip("0")
            return f"{whole}.{tail}{suffix}" if tail else f"{whole}{suffix}"
    return str(n)


def format_bytes(n: int | float, units: str = "gb", digits: int = 2) -> str:
    """Bytes in GB (10^9) or GiB (2^30), with the unit. Small values switch to MB/MiB."""
    divisor = UNIT_DIVISOR[units]
    label = UNIT_LABEL[units]
    if abs(n) < divisor / 10 and n != 0:
        small = divisor // (1000 if units == "gb" else 1024)
        return f"{n / small:,.{digits}f} {'MB' if units == 'gb' else 'MiB'}"
    return f"{n / divisor:,.{digits}f} {label}"


@dataclass(frozen=True)
class ModelLabel:
    """What a label such as "32B-Q4_K_M", "8x7B" or "30B-A3B" says about a model."""

    text: str
    total_params: int
    active_params: int | None = None
    experts: int | None = None
    expert_params: int | None = None  # the "7B" in "8x7B"
    format_name: str | None = None

    @property
    def is_moe(self) -> bool:
        return self.experts is not None or self.active_params is not None


_NUM = r"[0-9][0-9_,]*(?:\.[0-9]+)?(?:e[+-]?[0-9]{1,4})?\s*[kmbgt]?"
_MOE_RE = re.compile(rf"^([0-9]{{1,12}})\s*x\s*({_NUM})$", re.IGNORECASE)
_ACTIVE_RE = re.compile(rf"^({_NUM})\s*[-_]\s*a\s*({_NUM})$", re.IGNORECASE)


def parse_label(text: str) -> ModelLabel:
    """Split a label into its count part and an optional format part.

    "32B-Q4_K_M" → 32e9 params, format Q4_K_M; "8x7B" → 8 experts of 7B (56B nominal);
    "30B-A3B" → 30B total, 3B active; "70B-FP16" → format FP16. The format part is returned as typed;
    the registry resolves it.
    """
    raw = text.strip()
    if not raw:
        raise UsageError("empty model label", f"give a parameter count such as {COUNT_EXAMPLES}")
    if len(raw) > MAX_LABEL_CHARS:
        raise UsageError(f"cannot read model {_shown(raw)}: too long for a label, and no such file",
                         "give a count, a label, a path or a Hub id")
    # Try the MoE forms on the whole text first, then on the text before the last separator.
    candidates: list[tuple[str, str | None]] = [(raw, None)]
    for sep in ("-", ":", "@", " "):
        if sep in raw:
            head, _, tail = raw.rpartition(sep)
            candidates.append((head, tail))
    # "30B-A3B": the hyphen belongs to the count, so try the first separator too.
    if raw.count("-") >= 2:
        first, _, rest = raw.partition("-")
        mid, _, tail = rest.partition("-")
        candidates.append((f"{first}-{mid}", tail))
    for head, fmt in candidates:
        label = _try_count_forms(head, raw, fmt)
        if label is not None:
            return label
    raise UsageError(
        f"cannot read model {_shown(raw, 100)}",
        f'give a parameter count ({COUNT_EXAMPLES}), a label such as "32B-Q4_K_M", "8x7B" or "30B-A3B", '
        "or a path to a config.json, checkpoint or GGUF",
    )


def _try_count_forms(head: str, raw: str, fmt: str | None) -> ModelLabel | None:
    if fmt is not None and not fmt.strip():
        return None
    fmt = fmt.strip() if fmt else None
    head = head.strip()
    m = _MOE_RE.match(head)
    if m:
        experts = int(m.group(1))
        per_expert = parse_count(m.group(2))
        if experts < 1:
            return None
        if experts > MAX_EXPERTS or experts * per_expert > MAX_COUNT:  # the cap holds for the product too
            raise UsageError(f"{_shown(raw)} is beyond any model ({experts:,} experts, over 10 quadrillion "
                             "parameters in all)" if experts <= MAX_EXPERTS else
                             f"{_shown(raw)} names {experts:,} experts, more than any model has ({MAX_EXPERTS:,})",
                             "check the count")
        return ModelLabel(raw, experts * per_expert, experts=experts, expert_params=per_expert, format_name=fmt)
    m = _ACTIVE_RE.match(head)
    if m:
        total, active = parse_count(m.group(1)), parse_count(m.group(2), "active parameter count")
        if active > total:
            raise UsageError(
                f"active parameters ({m.group(2)}) exceed the total ({m.group(1)}) in {_shown(raw)}",
                'write total first, as in "30B-A3B"',
            )
        return ModelLabel(raw, total, active_params=active, format_name=fmt)
    if len(head) <= MAX_VALUE_CHARS and _COUNT_RE.match(head):
        return ModelLabel(raw, parse_count(head), format_name=fmt)
    return None


_CONTEXT_RE = re.compile(r"^([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kKmM]?)$")


def parse_context(text: str) -> int:
    """Tokens of context: "8192", "8k" (= 8192: context lengths are powers of two), "128K" = 131072, "1M"."""
    example = "write --context 8192, --context 8k or --context max"
    m = _CONTEXT_RE.match(_value_text(text, "context", example))
    if not m:
        raise UsageError(f"cannot read context {_shown(text)}", example)
    if "," in m.group(1) and not _GROUPED.fullmatch(m.group(1)):
        raise UsageError(f"cannot read context {_shown(text)}: misplaced comma", example)
    value = _decimal(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2}[m.group(2).lower()]
    if value < 1:
        raise UsageError(f"context must be at least 1 token, got {_shown(text)}", "write --context 8192")
    if value > MAX_CONTEXT:
        raise UsageError(f"context {_shown(text)} is beyond any model (over {MAX_CONTEXT:,} tokens)",
                         "write --context 8192, or --context max for the model's own")
    return _to_int(value)


_RESOLUTION_RE = re.compile(r"^([0-9]{1,9})\s*(?:[x×*]\s*([0-9]{1,9}))?$", re.IGNORECASE)


def parse_resolution(text: str) -> tuple[int, int]:
    """Image size as (width, height): "1024" is square, "1344x768" is width × height."""
    example = "write --resolution 1024 or --resolution 1344x768"
    m = _RESOLUTION_RE.match(_value_text(text, "resolution", example))
    if not m:
        raise UsageError(f"cannot read resolution {_shown(text)}", example)
    width = int(m.group(1))
    height = int(m.group(2)) if m.group(2) else width
    if width < 8 or height < 8:
        raise UsageError(f"resolution {_shown(text)} is smaller than one latent pixel", "write --resolution 1024")
    if width > MAX_RESOLUTION or height > MAX_RESOLUTION:
        raise UsageError(f"resolution {_shown(text)} is beyond any pipeline (over {MAX_RESOLUTION:,} pixels a side)",
                         "write --resolution 1024")
    return width, height
