import pytest

from undrift.errors import UndriftError
from undrift.models import ModelSpec


@pytest.mark.parametrize(
    "text, backend, target, lora, base_url",
    [
        ("bundled:smollm2", "bundled", "smollm2", None, None),
        ("hf:/models/base+lora:/adapters/a1", "hf", "/models/base", "/adapters/a1", None),
        ("gguf:model.Q4.gguf", "gguf", "model.Q4.gguf", None, None),
        ("openai:gpt-4o@http://localhost:8000/v1", "openai", "gpt-4o", None, "http://localhost:8000/v1"),
        ("openai:gpt-4o", "openai", "gpt-4o", None, None),
    ],
)
def test_parse(text, backend, target, lora, base_url):
    spec = ModelSpec.parse(text)
    assert (spec.backend, spec.target, spec.lora, spec.base_url) == (backend, target, lora, base_url)
    assert ModelSpec.parse(str(spec)) == spec


def test_options_roundtrip_with_spaces():
    spec = ModelSpec.parse("bundled:smollm2?system=Answer briefly, please.&quant=int8")
    assert spec.option("system") == "Answer briefly, please."
    assert spec.option("quant") == "int8"
    assert ModelSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("llama:foo", "unknown model spec"),
        ("smollm2", "unknown model spec"),
        ("bundled:gpt2", "unknown bundled model"),
        ("hf:", "names no model"),
        ("bundled:smollm2?colour=red", "unknown option 'colour'"),
        ("openai:gpt@localhost:8000", "bad server address"),
    ],
)
def test_bad_specs(text, fragment):
    with pytest.raises(UndriftError, match=fragment):
        ModelSpec.parse(text)
