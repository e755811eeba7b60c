"""The parameter schema: the project's own conf is valid; each violation is named once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kedro.config import OmegaConfigLoader

from fruits_pipeline.errors import UserError
from fruits_pipeline.params import ALPHAS, validate_parameters
from tests.conftest import REPO


@pytest.mark.parametrize("env", ["local", "emr", "s3_local"])
def test_every_env_s_parameters_are_valid(env):
    loader = OmegaConfigLoader(
        str(REPO / "conf"), base_env="base", default_run_env=env,
        merge_strategy={"parameters": "soft", "globals": "soft"},
    )  # fmt: skip
    params = validate_parameters(loader["parameters"])
    assert params.featurization.alpha == 1.0 and params.keep_versions == 5


@pytest.mark.parametrize(
    ("params", "line"),
    [
        ({"featurization": {"alpha": "wide"}}, "featurization.alpha='wide': must be a MobileNetV2"),
        ({"featurization": {"alpha": 0.9}}, "featurization.alpha=0.9: must be a MobileNetV2"),
        ({"featurization": {"image_size": 31}}, "featurization.image_size=31: Input should be"),
        ({"featurization": {"image_size": "224"}}, "featurization.image_size='224'"),
        ({"featurization": {"backend": "onnx"}}, "featurization.backend='onnx'"),
        (
            {"featurization": {"backend": "tflite_int4"}},
            "featurization.backend='tflite_int4': Input should be 'tflite', 'tflite_fp16', "
            "'tflite_int8' or 'keras'",
        ),
        ({"featurization": {"calibration_images": 0}}, "featurization.calibration_images=0"),
        ({"featurization": {"progress_interval_s": -1}}, "featurization.progress_interval_s=-1"),
        ({"reduction": {"k": 0}}, "reduction.k=0"),
        ({"reduction": {"variance_threshold": 0}}, "reduction.variance_threshold=0"),
        ({"ingestion": {"test_fraction": 0}}, "ingestion.test_fraction=0"),
        ({"keep_versions": 0}, "keep_versions=0"),
        ({"incremental": "true"}, "incremental='true'"),
        ({"reductoin": {}}, "parameter reductoin is unknown"),
        ({"augmentation": {"photos": -1}}, "augmentation.photos=-1: Input should be greater"),
        ({"augmentation": {"scale": [0.9, 0.2]}}, "augmentation.scale=[0.9, 0.2]: must be"),
        ({"augmentation": {"extra_fruits": 3}}, "augmentation.extra_fruits=3"),
        ({"augmentation": {"enabled": "yes"}}, "augmentation.enabled='yes'"),
    ],
)
def test_each_violation_is_one_line_naming_the_parameter(params, line):
    with pytest.raises(UserError) as error:
        validate_parameters(params)
    lines = str(error.value).splitlines()
    assert lines[0] == "1 invalid parameter(s):"
    assert line in lines[1] and len(lines) == 3


@given(
    alpha=st.one_of(st.sampled_from(ALPHAS), st.floats(allow_nan=False), st.text(max_size=5)),
    size=st.one_of(st.integers(-10, 600), st.floats(allow_nan=False)),
    threshold=st.floats(allow_nan=False, allow_infinity=False, min_value=-2, max_value=2),
)
def test_valid_exactly_when_the_documented_rules_hold(alpha, size, threshold):
    params = {
        "featurization": {"alpha": alpha, "image_size": size},
        "reduction": {"variance_threshold": threshold},
    }
    ok = (
        not isinstance(alpha, str) and alpha in ALPHAS
        and isinstance(size, int) and size >= 32
        and 0 < threshold <= 1
    )  # fmt: skip
    try:
        validate_parameters(params)
    except UserError as error:
        assert not ok, error
    else:
        assert ok
