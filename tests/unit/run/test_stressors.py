"""The stressor catalogue: the shipped files load, each names a binary the image hashes, and a
bad file is refused naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hostbench.errors import ConfigError
from hostbench.image.recipe import load_recipe
from hostbench.run.stressors import RESOURCES, chosen, load_stressor, load_stressors

GOOD = {"description": "CPU", "resource": "cpu", "binary": "/usr/bin/stress-ng",
        "command": ["stress-ng", "--cpu", "{workers}", "--timeout", "1d"]}


def _write(directory: Path, name: str, data: object) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_shipped_stressors_cover_every_resource_with_binaries_the_image_hashes():
    hashed = set(load_recipe().benchmark_binaries)
    catalogue = load_stressors()
    assert {s.resource for s in catalogue.values()} == set(RESOURCES)
    assert {"cpu", "memrate", "cache", "fork", "switch", "hdd", "fio-randwrite",
            "iperf3-flood"} <= set(catalogue)
    assert all(s.binary in hashed for s in catalogue.values())
    assert chosen(catalogue, ("cpu", "hdd"), dict.fromkeys(hashed, "x")) == [
        catalogue["cpu"], catalogue["hdd"]]


def test_placeholders_are_filled_with_the_neighbours_cores_and_directory():
    hdd = load_stressors()["hdd"]
    argv = hdd.argv(2, "/scratch/n")
    assert argv[:3] == ["stress-ng", "--hdd", "2"] and "/scratch/n" in argv


@pytest.mark.parametrize(("change", "field"), [
    ({"resource": "gpu"}, "resource"),
    ({"binary": "stress-ng"}, "binary"),
    ({"command": []}, "command"),
    ({"description": None}, "description"),
    ({"name": "other"}, "name"),
])
def test_a_bad_field_is_refused_naming_the_file_and_the_field(tmp_path, change, field):
    path = _write(tmp_path, "bad", {**GOOD, **change})
    with pytest.raises(ConfigError) as caught:
        load_stressor(path)
    assert caught.value.source == str(path) and caught.value.field.startswith(field)


def test_an_unknown_placeholder_is_refused_naming_the_token(tmp_path):
    path = _write(tmp_path, "bad", {**GOOD, "command": ["stress-ng", "--cpu", "{threads}"]})
    with pytest.raises(ConfigError, match=r"bad.yaml: command: .*\{threads\}.*known: "
                                          r"scratch_dir, workers"):
        load_stressor(path)


def test_an_unknown_stressor_or_an_unhashed_binary_is_refused(tmp_path):
    catalogue = {"cpu": load_stressor(_write(tmp_path, "cpu", GOOD))}
    with pytest.raises(ConfigError, match=r"--neighbour: gpu: no such stressor \(have: cpu\)"):
        chosen(catalogue, ("gpu",), {})
    with pytest.raises(ConfigError, match=r"cpu.yaml: binary: /usr/bin/stress-ng is not hashed"):
        chosen(catalogue, ("cpu",), {"/usr/bin/fio": "x"})
