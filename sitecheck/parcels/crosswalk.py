"""Land-use codes: the 用地用海 classification, and the crosswalk from GB/T 21010-2017 and GB 50137-2011 codes.

Parcels carry 用地用海 codes (《国土空间调查、规划、用途管制用地用海分类指南》, 2023). A search may name land uses
in any of three schemes; each input resolves to a set of 用地用海 code prefixes, and a parcel matches when its
code starts with one of them. Bare codes are read as follows (docs/parcels.md):

- letters (M2, W1, B11) are GB 50137-2011 城市用地分类 codes;
- digits are 用地用海 codes, except the GB/T 21010 classes 05 商服用地 and 06 工矿仓储用地 (0601 工业用地 …), whose
  numbers mean 湿地 and 农业设施建设用地 in 用地用海 — classes an industrial-land search never asks for;
- a scheme prefix removes any doubt: ``GB/T21010:0601``, ``GB50137:M2``, ``YDYH:100102``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sitecheck.errors import ParameterInvalid

YDYH, GBT21010, GB50137 = "用地用海", "GB/T 21010-2017", "GB 50137-2011"

# 用地用海 codes with their names: every first-level class and the construction classes an investment search uses.
USE_NAMES: dict[str, str] = {
    "01": "耕地",
    "0101": "水田",
    "0102": "水浇地",
    "0103": "旱地",
    "02": "园地",
    "03": "林地",
    "04": "草地",
    "05": "湿地",
    "06": "农业设施建设用地",
    "0601": "乡村道路用地",
    "0602": "种植设施建设用地",
    "0603": "畜禽养殖设施建设用地",
    "0604": "水产养殖设施建设用地",
    "07": "居住用地",
    "0701": "城镇住宅用地",
    "070101": "一类城镇住宅用地",
    "070102": "二类城镇住宅用地",
    "070103": "三类城镇住宅用地",
    "0702": "城镇社区服务设施用地",
    "0703": "农村宅基地",
    "0704": "农村社区服务设施用地",
    "08": "公共管理与公共服务用地",
    "0801": "机关团体用地",
    "0802": "科研用地",
    "0803": "文化用地",
    "0804": "教育用地",
    "0805": "体育用地",
    "0806": "医疗卫生用地",
    "0807": "社会福利用地",
    "09": "商业服务业用地",
    "0901": "商业用地",
    "090101": "零售商业用地",
    "090102": "批发市场用地",
    "090103": "餐饮用地",
    "090104": "旅馆用地",
    "090105": "公用设施营业网点用地",
    "0902": "商务金融用地",
    "0903": "娱乐用地",
    "0904": "其他商业服务业用地",
    "10": "工矿用地",
    "1001": "工业用地",
    "100101": "一类工业用地",
    "100102": "二类工业用地",
    "100103": "三类工业用地",
    "1002": "采矿用地",
    "1003": "盐田",
    "11": "仓储用地",
    "1101": "物流仓储用地",
    "110101": "一类物流仓储用地",
    "110102": "二类物流仓储用地",
    "110103": "三类物流仓储用地",
    "1102": "储备库用地",
    "12": "交通运输用地",
    "13": "公用设施用地",
    "14": "绿地与开敞空间用地",
    "1401": "公园绿地",
    "1402": "防护绿地",
    "1403": "广场用地",
    "15": "特殊用地",
    "1501": "军事设施用地",
    "1502": "使领馆用地",
    "1503": "宗教用地",
    "1504": "文物古迹用地",
    "16": "留白用地",
    "17": "陆地水域",
    "18": "渔业用海",
    "19": "工矿通信用海",
    "20": "交通运输用海",
    "21": "游憩用海",
    "22": "特殊用海",
    "23": "其他土地",
    "24": "其他海域",
}

# GB 50137-2011 城市用地分类 → (name, 用地用海 prefixes).
GB50137_CODES: dict[str, tuple[str, tuple[str, ...]]] = {
    "R": ("居住用地", ("07",)),
    "R1": ("一类居住用地", ("070101",)),
    "R2": ("二类居住用地", ("070102",)),
    "R3": ("三类居住用地", ("070103",)),
    "A": ("公共管理与公共服务设施用地", ("08",)),
    "A1": ("行政办公用地", ("0801",)),
    "A2": ("文化设施用地", ("0803",)),
    "A3": ("教育科研用地", ("0804", "0802")),
    "A4": ("体育用地", ("0805",)),
    "A5": ("医疗卫生用地", ("0806",)),
    "A6": ("社会福利用地", ("0807",)),
    "B": ("商业服务业设施用地", ("09",)),
    "B1": ("商业用地", ("0901",)),
    "B11": ("零售商业用地", ("090101",)),
    "B12": ("批发市场用地", ("090102",)),
    "B13": ("餐饮用地", ("090103",)),
    "B14": ("旅馆用地", ("090104",)),
    "B2": ("商务用地", ("0902",)),
    "B3": ("娱乐康体用地", ("0903",)),
    "B4": ("公用设施营业网点用地", ("090105",)),
    "B9": ("其他服务设施用地", ("0904",)),
    "M": ("工业用地", ("1001",)),
    "M1": ("一类工业用地", ("100101",)),
    "M2": ("二类工业用地", ("100102",)),
    "M3": ("三类工业用地", ("100103",)),
    "W": ("物流仓储用地", ("1101",)),
    "W1": ("一类物流仓储用地", ("110101",)),
    "W2": ("二类物流仓储用地", ("110102",)),
    "W3": ("三类物流仓储用地", ("110103",)),
    "S": ("道路与交通设施用地", ("12",)),
    "U": ("公用设施用地", ("13",)),
    "G": ("绿地与广场用地", ("14",)),
    "G1": ("公园绿地", ("1401",)),
    "G2": ("防护绿地", ("1402",)),
    "G3": ("广场用地", ("1403",)),
}

# GB/T 21010-2017 土地利用现状分类 (construction classes) → (name, 用地用海 prefixes).
GBT21010_CODES: dict[str, tuple[str, tuple[str, ...]]] = {
    "05": ("商服用地", ("09",)),
    "0501": ("零售商业用地", ("090101",)),
    "0502": ("批发市场用地", ("090102",)),
    "0503": ("餐饮用地", ("090103",)),
    "0504": ("旅馆用地", ("090104",)),
    "0505": ("商务金融用地", ("0902",)),
    "0506": ("娱乐用地", ("0903",)),
    "0507": ("其他商服用地", ("0904",)),
    "06": ("工矿仓储用地", ("10", "11")),
    "0601": ("工业用地", ("1001",)),
    "0602": ("采矿用地", ("1002",)),
    "0603": ("盐田", ("1003",)),
    "0604": ("仓储用地", ("11",)),
    "07": ("住宅用地", ("07",)),
    "0701": ("城镇住宅用地", ("0701",)),
    "0702": ("农村宅基地", ("0703",)),
    "08": ("公共管理与公共服务用地", ("08", "13", "14")),
    "0801": ("机关团体用地", ("0801",)),
    "0803": ("教育用地", ("0804",)),
    "0804": ("科研用地", ("0802",)),
    "0805": ("医疗卫生用地", ("0806",)),
    "0806": ("社会福利用地", ("0807",)),
    "0807": ("文化设施用地", ("0803",)),
    "0808": ("体育用地", ("0805",)),
    "0809": ("公用设施用地", ("13",)),
    "0810": ("公园与绿地", ("14",)),
    "09": ("特殊用地", ("15",)),
    "10": ("交通运输用地", ("12",)),
}

# Bare digit codes read as GB/T 21010 rather than 用地用海 (see the module docstring).
_GBT21010_FIRST = frozenset(code for code in GBT21010_CODES if code[:2] in ("05", "06"))
_SCHEMES = {"GBT21010": GBT21010, "GB21010": GBT21010, "GB50137": GB50137, "YDYH": YDYH, "用地用海": YDYH}
_CODE_RE = re.compile(r"^(?:\d{2}|\d{4}|\d{6})$")

# Project category (rules.toml) of a parcel, from the longest matching 用地用海 prefix of its code.
_CATEGORY_BY_PREFIX: dict[str, str] = {
    "1001": "industrial",
    "1002": "mining",
    "1003": "mining",
    "11": "warehouse_logistics",
    "09": "commercial",
    "07": "residential",
    "08": "public_service",
    "12": "linear_infrastructure",
    "1301": "water",
    "1303": "energy",
    "1304": "energy",
    "1305": "energy",
    "1501": "military",
    "21": "tourism",
}
# 用地用海 prefixes a project category occupies (site suggestions without an explicit land-use code).
CATEGORY_USES: dict[str, tuple[str, ...]] = {
    "industrial": ("1001",),
    "warehouse_logistics": ("11",),
    "commercial": ("09",),
    "residential": ("07",),
    "public_service": ("08",),
    "mining": ("1002", "1003"),
}


@dataclass(frozen=True)
class UseCode:
    """One requested land-use code and what it was read as: scheme, name and the 用地用海 prefixes it matches."""

    input: str
    scheme: str
    code: str
    name_zh: str
    prefixes: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """Return the resolution as plain data (echoed in search results)."""
        return {
            "input": self.input,
            "scheme": self.scheme,
            "code": self.code,
            "name_zh": self.name_zh,
            "prefixes": list(self.prefixes),
        }


def use_name(code: str | None) -> str | None:
    """Name of a 用地用海 code, or of its nearest named parent; None when unknown."""
    if not code:
        return None
    for length in (6, 4, 2):
        name = USE_NAMES.get(code[:length]) if len(code) >= length else None
        if name:
            return name
    return None


def resolve_use(text: str) -> UseCode:
    """Read one land-use code in any supported scheme; refuse what no scheme knows, naming the input."""
    raw = text.strip()
    scheme, _, code = raw.replace("：", ":").rpartition(":")
    code = code.strip().upper()
    named = _SCHEMES.get(re.sub(r"[\s/\-_.]", "", scheme).upper()) if scheme else None
    if scheme and named is None:
        raise _unknown(raw, f"unknown scheme {scheme!r}")
    if named is None:
        named = GB50137 if code[:1].isalpha() else (GBT21010 if code in _GBT21010_FIRST else YDYH)
    if named == GB50137 and code in GB50137_CODES:
        name, prefixes = GB50137_CODES[code]
        return UseCode(raw, GB50137, code, name, prefixes)
    if named == GBT21010 and code in GBT21010_CODES:
        name, prefixes = GBT21010_CODES[code]
        return UseCode(raw, GBT21010, code, name, prefixes)
    if named == YDYH and _CODE_RE.match(code) and (code in USE_NAMES or code[:4] in USE_NAMES):
        return UseCode(raw, YDYH, code, use_name(code) or code, (code,))
    raise _unknown(raw, f"not a {named} code")


def resolve_uses(texts: list[str]) -> list[UseCode]:
    """Resolve several codes (comma-separated values are split), keeping input order and dropping repeats."""
    seen: dict[str, UseCode] = {}
    for text in texts:
        for part in re.split(r"[,，]", text):
            if part.strip() and part.strip() not in seen:
                seen[part.strip()] = resolve_use(part)
    return list(seen.values())


def use_prefixes(codes: list[UseCode]) -> tuple[str, ...]:
    """All 用地用海 prefixes of resolved codes, sorted and without ones covered by a shorter prefix."""
    prefixes = sorted({p for c in codes for p in c.prefixes})
    return tuple(p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes))


def category_for_use(code: str | None) -> str:
    """Project category (industrial, warehouse_logistics, …) implied by a 用地用海 code; 'other' when none fits."""
    if not code:
        return "other"
    for length in (4, 2):
        category = _CATEGORY_BY_PREFIX.get(code[:length])
        if category:
            return category
    return "other"


def crosswalk_table() -> list[dict[str, object]]:
    """The crosswalk as rows (scheme, code, name, 用地用海 prefixes), for documentation and the options endpoint."""
    rows: list[dict[str, object]] = []
    for scheme, table in ((GB50137, GB50137_CODES), (GBT21010, GBT21010_CODES)):
        for code, (name, prefixes) in table.items():
            rows.append(
                {
                    "scheme": scheme,
                    "code": code,
                    "name_zh": name,
                    "prefixes": list(prefixes),
                    "bare_code_reads_as": scheme if scheme == GB50137 or code in _GBT21010_FIRST else YDYH,
                }
            )
    return rows


def _unknown(raw: str, why: str) -> ParameterInvalid:
    """The error for an unreadable land-use code."""
    return ParameterInvalid(
        f"land-use code {raw!r} is {why}: give a 用地用海 code (100101), a GB 50137 code (M2, W1) or a GB/T 21010 "
        "code (0601), optionally with a scheme prefix (GB/T21010:0601, GB50137:M2, YDYH:1001)",
        f"无法识别的用地性质代码 {raw!r}：请使用用地用海分类代码（如 100101）、GB 50137 代码（如 M2、W1）或 "
        "GB/T 21010 代码（如 0601），可加前缀（GB/T21010:0601、GB50137:M2、YDYH:1001）",
        location={"field": "use"},
        details={"use": raw},
    )
