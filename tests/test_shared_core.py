import json
import re

import numpy as np
import pytest

from edge.errors import DataError, ModelError
from edge.labels import EMOTIONS, label_index
from edge.metadata import ModelMetadata, check_model_file, file_sha256, read_metadata, write_metadata
from edge.preprocess import PREPROCESSING, crop_face, face_to_gray48, to_model_input


def test_label_order_is_fer2013s():
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert label_index("Happy") == 3
    with pytest.raises(ValueError, match="unknown emotion 'joy'"):
        label_index("joy")


def test_bgr_face_becomes_gray48():
    face = np.zeros((96, 80, 3), np.uint8)
    face[..., 2] = 255  # pure red in BGR
    gray = face_to_gray48(face)
    assert gray.shape == (48, 48) and gray.dtype == np.uint8
    assert gray[0, 0] == 76  # ITU-R BT.601 luma of red


def test_crop_face_clips_margin_to_frame():
    frame = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100).astype(np.uint8)
    assert crop_face(frame, (90, 90, 10, 10), margin=0.5).shape == (48, 48)
    with pytest.raises(DataError, match="outside"):
        crop_face(frame, (200, 200, 10, 10))


def test_model_input_scales_to_unit_range():
    batch = to_model_input(np.full((2, 48, 48), 255, np.uint8))
    assert batch.shape == (2, 48, 48, 1) and batch.dtype == np.float32
    assert batch.max() == pytest.approx(1.0)


def test_metadata_round_trips(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    meta = ModelMetadata(model_id="m1", sha256=file_sha256(model), quantization="int8",
                         input_quantization={"scale": 0.5, "zero_point": -128})
    write_metadata(model, meta)
    assert (tmp_path / "m.json").exists()
    assert read_metadata(model) == meta


def test_metadata_errors_name_the_file(tmp_path):
    model = tmp_path / "m.tflite"
    with pytest.raises(ModelError, match="m.json: no model metadata"):
        read_metadata(model)
    (tmp_path / "m.json").write_text('{"labels": 3}')
    with pytest.raises(ModelError, match="m.json: field 'model_id'"):
        read_metadata(model)


def test_unreadable_sidecar_is_named(tmp_path):
    model = tmp_path / "m.tflite"
    (tmp_path / "m.json").write_bytes(b'{"model_id": "caf\xe9"}')  # Latin-1, as an editor may save it
    with pytest.raises(ModelError, match="m.json: not valid JSON .byte 18 is not UTF-8"):
        read_metadata(model)
    (tmp_path / "m.json").unlink()
    (tmp_path / "m.json").mkdir()
    with pytest.raises(ModelError, match="m.json: cannot read the model metadata .Is a directory"):
        read_metadata(model)


@pytest.mark.parametrize("change, complaint", [
    ({"format": "fer-edge-model/9"}, "field 'format': unknown format 'fer-edge-model/9'"),
    ({"input_shape": [64, 64, 1]}, "field 'input_shape': input_shape [64, 64, 1] is not supported"),
    ({"labels": ["happy", "sad", "happy"]}, "field 'labels': labels repeat happy"),
    ({"colour": "grey"}, "field 'colour': unknown key"),
    ({"preprocessing": {**PREPROCESSING, "scale": 1 / 127.5, "offset": -1.0}},
     "field 'preprocessing': preprocessing differs from what fer-edge implements in offset, scale"),
    ({"sha256": "abc"}, "field 'sha256': String should match pattern"),
    ({"flip_average": "yes"}, "field 'flip_average': Input should be a valid boolean"),
    ({"framing": {"margin": "0.1"}}, "field 'framing.margin': Input should be a valid number"),
    ({"input_quantization": {"scale": "0.5", "zero_point": 0}}, "field 'input_quantization.scale': Input should be"),
    ({"input_quantization": {"scale": 0.5}}, "field 'input_quantization': holds scale; expected scale and zero_point"),
    ({"input_quantization": {"scale": 0, "zero_point": 0}}, "field 'input_quantization': scale 0.0 and zero_point 0.0"),
    ({"input_quantization": {"scale": 0.5, "zero_point": 0.5}},
     "field 'input_quantization': scale 0.5 and zero_point 0.5: expected a scale above 0 and a whole zero_point"),
    ({"quantization": "int4"}, "field 'quantization': Input should be 'float32', 'float16' or 'int8'"),
    ({"model_id": "v5\nforged"}, "field 'model_id': 'v5\\nforged' holds a control character; expected one line"),
])
def test_sidecar_is_refused_unless_fer_edge_can_honour_it(tmp_path, change, complaint):
    model = tmp_path / "m.tflite"
    (tmp_path / "m.json").write_text(json.dumps({"model_id": "m1", **change}))
    with pytest.raises(ModelError, match=re.escape(f"m.json: {complaint}")):
        read_metadata(model)


def test_model_file_must_have_the_recorded_sha256(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"model bytes")
    with pytest.raises(ModelError, match="m.json: field 'sha256' is missing"):
        check_model_file(model, ModelMetadata(model_id="m1"))
    check_model_file(model, ModelMetadata(model_id="m1", sha256=file_sha256(model)))
    model.write_bytes(b"model bytes, altered")
    with pytest.raises(ModelError, match="m.tflite: sha256 .* is not the .* recorded in m.json"):
        check_model_file(model, ModelMetadata(model_id="m1", sha256="0" * 64))
