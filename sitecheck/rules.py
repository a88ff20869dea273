"""Rules as configuration (TOML): which status each layer's overlap gets, why, and under which policy."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitecheck.config import LayerConfig
from sitecheck.errors import ConfigInvalid, ParameterInvalid

DEFAULT_RULES = Path(__file__).with_name("rules.toml")
STATUSES = ("pass", "conflict", "conditional", "review", "not_applicable")
RULE_KINDS = ("constraint_overlap", "zone_inside", "zone_use", "slope_share")
STATUS_ZH = {
    "pass": "通过",
    "conflict": "冲突",
    "conditional": "有条件通过",
    "review": "需复核",
    "not_applicable": "不适用",
}
VERDICT_ZH = {
    "compliant": "合规",
    "conditional": "有条件合规",
    "needs_review": "需人工复核",
    "non_compliant": "不合规",
}
CATEGORY_ZH = {
    "industrial": "工业",
    "warehouse_logistics": "仓储物流",
    "commercial": "商业服务",
    "residential": "居住",
    "public_service": "公共服务",
    "linear_infrastructure": "线性基础设施",
    "energy": "能源",
    "water": "水利",
    "mining": "矿产",
    "military": "军事",
    "tourism": "旅游",
    "other": "其他",
}
LEVEL_ZH = {"national": "国家级", "provincial": "省级", "municipal": "市级", "county": "县级", "other": "其他"}


@dataclass(frozen=True)
class Thresholds:
    """Sliver and slope thresholds; echoed in every result."""

    sliver_area_m2: float = 1.0
    sliver_width_m: float = 0.1
    slope_degrees: float = 25.0
    slope_review_share: float = 0.10

    def to_dict(self) -> dict[str, float]:
        """Return the thresholds as plain data."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class ProjectFacts:
    """What the planner says about the project; the facts select rule exceptions."""

    name: str = ""
    level: str = "municipal"
    category: str = "industrial"
    land_use_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the facts as plain data."""
        return {"name": self.name, "level": self.level, "category": self.category, "land_use_code": self.land_use_code}


@dataclass(frozen=True)
class Exception_:
    """A configured exception: when the facts match, the status and reason replace the rule's own."""

    id: str
    when: dict[str, tuple[str, ...]]
    status: str
    zh: str
    en: str

    def matches(self, facts: ProjectFacts) -> bool:
        """True when every condition of the exception holds for the facts."""
        return all(str(getattr(facts, name, "")) in values for name, values in self.when.items())


@dataclass(frozen=True)
class Rule:
    """One rule: its kind, policy sources, message templates and exceptions."""

    id: str
    kind: str
    layer: str | None
    role: str | None
    policy: tuple[str, ...]
    messages: dict[str, tuple[str, str]]
    exceptions: tuple[Exception_, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    def message(self, key: str, values: dict[str, Any]) -> tuple[str, str]:
        """Fill the (zh, en) templates of a message with the values."""
        if key not in self.messages:
            raise ConfigInvalid(f"rule '{self.id}' has no '{key}' message", f"规则“{self.id}”缺少“{key}”提示语")
        zh, en = self.messages[key]
        return zh.format_map(values), en.format_map(values)


@dataclass(frozen=True)
class RuleSet:
    """All rules of a deployment, with thresholds and the accepted project facts."""

    id: str
    version: str
    name_zh: str
    thresholds: Thresholds
    levels: tuple[str, ...]
    categories: tuple[str, ...]
    rules: tuple[Rule, ...]

    def rule_for(self, layer: LayerConfig) -> Rule | None:
        """Return the layer's own rule, else its role's default rule, else None."""
        own = [r for r in self.rules if r.layer == layer.key]
        if own:
            return own[0]
        by_role = [r for r in self.rules if r.layer is None and r.role == layer.role]
        return by_role[0] if by_role else None

    def check_facts(self, facts: ProjectFacts) -> ProjectFacts:
        """Refuse facts outside the configured levels and categories, naming the accepted values."""
        if facts.level not in self.levels:
            raise ParameterInvalid(
                f"level {facts.level!r} is not one of {list(self.levels)}",
                f"项目级别 {facts.level!r} 无效，可选：{list(self.levels)}",
                location={"field": "level"},
            )
        if facts.category not in self.categories:
            raise ParameterInvalid(
                f"category {facts.category!r} is not one of {list(self.categories)}",
                f"项目类别 {facts.category!r} 无效，可选：{list(self.categories)}",
                location={"field": "category"},
            )
        code = facts.land_use_code
        if code is not None and not (code.isalnum() and len(code) <= 12):
            raise ParameterInvalid(
                f"land_use_code {code!r} is not a land-use code",
                f"用地性质代码 {code!r} 无效",
                location={"field": "land_use_code"},
            )
        return facts

    def to_dict(self) -> dict[str, Any]:
        """Identify the rule set in results."""
        return {"id": self.id, "version": self.version, "name_zh": self.name_zh}


def load_rules(path: Path = DEFAULT_RULES) -> RuleSet:
    """Read and validate a rule file; errors name the file and the rule."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigInvalid(f"rules {path}: {exc}", f"规则文件 {path} 无法读取：{exc}") from exc
    head = raw.get("rule_set", {})
    thresholds = Thresholds(**{k: float(v) for k, v in raw.get("thresholds", {}).items()})
    project = raw.get("project", {})
    rules = tuple(_parse_rule(entry, path) for entry in raw.get("rules", []))
    return RuleSet(
        id=str(head.get("id", path.stem)),
        version=str(head.get("version", "0")),
        name_zh=str(head.get("name_zh", "")),
        thresholds=thresholds,
        levels=tuple(project.get("levels", LEVEL_ZH)),
        categories=tuple(project.get("categories", CATEGORY_ZH)),
        rules=rules,
    )


def _parse_rule(entry: dict[str, Any], path: Path) -> Rule:
    """Turn one [[rules]] table into a Rule."""
    data = dict(entry)
    rule_id = str(data.pop("id", "?"))
    kind = data.pop("kind", None)
    if kind not in RULE_KINDS:
        raise ConfigInvalid(
            f"{path}: rule '{rule_id}' has kind {kind!r}, not one of {RULE_KINDS}", f"{path}：规则“{rule_id}”类型无效"
        )
    layer, role = data.pop("layer", None), data.pop("role", None)
    if (layer is None) == (role is None):
        raise ConfigInvalid(
            f"{path}: rule '{rule_id}' needs exactly one of layer or role",
            f"{path}：规则“{rule_id}”须指定 layer 或 role 之一",
        )
    exceptions = tuple(
        Exception_(
            id=str(e["id"]),
            when={k: tuple(v) for k, v in e.get("when", {}).items()},
            status=_status(e.get("status"), rule_id, path),
            zh=str(e["zh"]),
            en=str(e["en"]),
        )
        for e in data.pop("exceptions", [])
    )
    policy = tuple(data.pop("policy", []))
    messages = {k: (str(v["zh"]), str(v["en"])) for k, v in list(data.items()) if isinstance(v, dict) and "zh" in v}
    options = {k: v for k, v in data.items() if k not in messages}
    return Rule(rule_id, kind, layer, role, policy, messages, exceptions, options)


def _status(value: Any, rule_id: str, path: Path) -> str:
    """Check an exception's status is one we know."""
    if value not in STATUSES:
        raise ConfigInvalid(
            f"{path}: rule '{rule_id}' exception status {value!r} is unknown", f"{path}：规则“{rule_id}”例外状态无效"
        )
    return str(value)


def overall_verdict(statuses: list[str]) -> str:
    """Combine per-layer statuses: any conflict, else any conditional, else any review, else compliant."""
    if "conflict" in statuses:
        return "non_compliant"
    if "conditional" in statuses:
        return "conditional"
    if "review" in statuses:
        return "needs_review"
    return "compliant"
