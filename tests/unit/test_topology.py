"""streams.topology is the one declaration of topics, tables and agents: README agrees."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from servicepulse.streams import topology
from servicepulse.streams.app import create_app
from servicepulse.streams.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def architecture() -> str:
    text = README.read_text()
    return text[text.index("## Architecture\n") : text.index("\n## Event contract")]


def topic_rows() -> list[list[str]]:
    rows = [line for line in architecture().splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def expected_rows(settings: Settings) -> list[list[str]]:
    rows = []
    for spec in topology.TOPICS:
        name = spec.name(settings).replace(f"{settings.app_id}-", "<app>-")
        readers = [a.name for a in topology.AGENTS if a.source is spec]
        tables = [t.name for t in topology.TABLES if t.source is spec]
        rows.append([
            f"`{name}`", spec.role, spec.key.replace("|", "\\|"),
            "1" if spec.single_partition else "`SERVICEPULSE_PARTITIONS`",
            ", ".join(readers) or "—", ", ".join(tables) or "—",
        ])  # fmt: skip
    return rows


def test_readme_topic_table_is_the_topology() -> None:
    assert topic_rows() == expected_rows(Settings())


def test_diagram_names_every_agent_table_and_external_topic() -> None:
    diagram = architecture().split("```")[1]
    settings = Settings()
    external = [t.name(settings) for t in topology.TOPICS if t.role != "internal"]
    names = [*external, *(a.name for a in topology.AGENTS), *(t.name for t in topology.TABLES)]
    assert [name for name in names if name not in diagram] == []


def test_every_topic_is_declared_once_and_internal_ones_say_what_they_carry() -> None:
    settings = Settings()
    names = [spec.name(settings) for spec in topology.TOPICS]
    assert len(names) == len(set(names))
    for spec in topology.TOPICS:
        assert spec.carries or spec.role == "output", spec
        assert bool(spec.accepts) == (spec.role == "internal"), spec
    assert {agent.source.role for agent in topology.AGENTS} == {"input", "internal"}
    assert set(topology.consumed(settings)) == {
        agent.source.name(settings) for agent in topology.AGENTS
    }


def test_the_app_registers_exactly_the_declared_agents_and_tables(tmp_path: Path) -> None:
    settings = Settings(app_id="sp-topology", data_dir=tmp_path, demo_mode=True)
    app = create_app(settings, registry=CollectorRegistry())
    assert sorted(app.agents) == sorted(a.name for a in topology.AGENTS)
    assert sorted(app.tables) == sorted(t.name for t in topology.TABLES)
    for spec in topology.TABLES:
        assert app.tables[spec.name].partitions == spec.partitions(settings)
