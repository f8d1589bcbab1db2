"""Import boundaries: serving never loads training, evaluation or the data generator, and the
tools never load a transport or an agent framework. Each check runs in a fresh interpreter, so
what other tests imported cannot hide or fake a dependency."""

import json
import subprocess
import sys

import pytest

TRAINING = ("pipeline.train", "pipeline.evaluate", "fairlearn", "data.synthetic")
TRANSPORTS = ("fastapi", "gradio", "langchain")


def loaded_after_import(modules: tuple[str, ...], watched: tuple[str, ...]) -> dict[str, list]:
    """For each watched package, the modules of it (itself or a submodule) in ``sys.modules``
    after a fresh interpreter imports ``modules``."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"watched = {list(watched)!r}\n"
        "print(json.dumps({w: sorted(m for m in sys.modules if m == w or m.startswith(w + '.'))"
        " for w in watched}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def serving_imports() -> dict[str, list]:
    return loaded_after_import(("tools", "api.main", "assistant"), TRAINING)


@pytest.fixture(scope="module")
def tools_imports() -> dict[str, list]:
    return loaded_after_import(("tools",), TRANSPORTS)


@pytest.mark.parametrize("package", TRAINING)
def test_serving_does_not_import_training_or_the_generator(serving_imports, package):
    loaded = serving_imports[package]
    assert loaded == [], f"importing tools, api.main and assistant loads {', '.join(loaded)}"


@pytest.mark.parametrize("package", TRANSPORTS)
def test_tools_do_not_import_a_transport(tools_imports, package):
    loaded = tools_imports[package]
    assert loaded == [], f"importing tools loads {', '.join(loaded)}"
