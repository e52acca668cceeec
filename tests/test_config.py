"""The ingest config: validation, relative paths and the connector each source type builds."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from connectors.records import TerminalError
from flows.config import build_connector, load_config
from flows.settings import Settings


def write(tmp_path, text: str):
    path = tmp_path / "quarry.toml"
    path.write_text(text)
    return path


def test_paths_are_relative_to_the_config_file(tmp_path):
    config = load_config(write(tmp_path, '[[sources]]\nname = "d"\ntype = "docs"\npath = "docs"\n'))
    assert config.sources[0].path == (tmp_path / "docs").resolve()
    assert config.engine.name == "local"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[sources]]\nname = "d"\ntype = "docs"\n', "needs `path`"),
        ('[[sources]]\nname = "g"\ntype = "github-api"\n', "needs `repos`"),
        ('[[sources]]\nname = "x"\ntype = "ftp"\npath = "."\n', "type"),
        ('[[sources]]\nname = "a"\ntype = "docs"\npath = "."\n' * 2, "unique"),
        ('[[sources]]\nname = "a"\ntype = "docs"\npath = "."\ncolour = "red"\n', "colour"),
    ],
)
def test_bad_configs_are_rejected_with_a_reason(tmp_path, text, message):
    with pytest.raises(ValidationError, match=message):
        load_config(write(tmp_path, text))


def test_unreadable_config_is_a_terminal_error(tmp_path):
    with pytest.raises(TerminalError, match="cannot read config"):
        load_config(write(tmp_path, "[[sources]\n"))


def test_each_source_type_builds_its_connector(tmp_path):
    config = load_config(write(tmp_path, """
[[sources]]
name = "a"
type = "slack-api"
workspace_url = "https://acme.slack.com"
lookback_days = 2
[[sources]]
name = "b"
type = "github-api"
repos = ["acme/api"]
[[sources]]
name = "c"
type = "bookmarks"
path = "links"
"""))
    with pytest.raises(TerminalError, match="QUARRY_SLACK_TOKEN"):
        build_connector(config.sources[0], Settings(slack_token=None))
    settings = Settings(slack_token=SecretStr("xoxb-1"), github_token=SecretStr("ghp-1"))
    kinds = [type(build_connector(s, settings)).__name__ for s in config.sources]
    assert kinds == ["SlackApiConnector", "GitHubApiConnector", "BookmarksConnector"]
    assert build_connector(config.sources[0], settings)._lookback == 2 * 86400


def test_engine_options_reach_the_beam_pipeline(tmp_path):
    from flows.run import make_engine

    config = load_config(write(tmp_path, """
[engine]
name = "beam"
runner = "PortableRunner"
address = "localhost:8099"
options = { environment_type = "EXTERNAL", environment_config = "localhost:50000", parallelism = 4 }
[[sources]]
name = "c"
type = "bookmarks"
path = "links"
"""))
    engine = make_engine(config.engine, Settings(store=tmp_path / "store"))
    assert engine.options == {
        "environment_type": "EXTERNAL", "environment_config": "localhost:50000", "parallelism": 4,
        "job_endpoint": "localhost:8099",
    }
