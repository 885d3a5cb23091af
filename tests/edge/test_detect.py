from pathlib import Path

import cv2
import numpy as np
import pytest

import edge.detect as detect_module
from edge.detect import INPUT_SIZES, OnnxDetector, decode, engine_cache, letterbox, select_providers, tensorrt_options
from edge.detections import Detections
from edge.errors import ModelError
from tests.conftest import FakeDetector, digits_at, make_tiny_onnx


def test_letterbox_keeps_aspect_and_centres_like_ultralytics():
    image = np.zeros((720, 1280, 3), np.uint8)
    out, r, (left, top) = letterbox(image, (640, 640))
    assert out.shape == (640, 640, 3)
    assert r == pytest.approx(0.5)
    assert (left, top) == (0, 140)
    assert (out[:140] == 114).all() and (out[-140:] == 114).all()


@pytest.mark.parametrize("shape", [(10, 5000), (5000, 10), (1, 1)])
def test_an_image_whose_side_shrinks_to_under_a_pixel_is_letterboxed_not_refused(shape):
    out, r, _ = letterbox(np.full((*shape, 3), 60, np.uint8), (160, 160))
    assert out.shape == (160, 160, 3) and r == pytest.approx(160 / max(shape))


def test_a_crop_of_no_pixels_reads_no_digits_and_a_sliver_is_levelled():
    from edge.track import DisplayTracker, flatten_light

    detector = FakeDetector(default=digits_at("0753"))
    tracker = DisplayTracker(detector, roi=(1280, 300, 1280, 360))  # digits clipped flat at the frame's edge
    dets, _ = tracker.detect_crop(np.full((720, 1280, 3), 60, np.uint8), level=True)
    assert len(dets) == 0 and detector.calls == []
    assert flatten_light(np.full((5000, 10, 3), 60, np.uint8)).shape == (5000, 10, 3)


def test_decode_agnostic_nms_keeps_one_box_per_place():
    out = np.zeros((14, 3), np.float32)
    out[:4, 0] = [50, 50, 20, 40]
    out[4 + 2, 0] = 0.9  # a "3"
    out[:4, 1] = [51, 50, 20, 40]
    out[4 + 7, 1] = 0.6  # an "8" on the same place
    out[:4, 2] = [150, 50, 20, 40]
    out[4 + 0, 2] = 0.8
    dets = decode(out, 0.25, 0.5)
    assert sorted(dets.digits) == ["1", "3"]


def test_decode_for_a_metric_gives_each_class_above_the_threshold_a_box_best_first():
    out = np.zeros((14, 3), np.float32)
    out[:4, 0] = [50, 50, 20, 40]
    out[4 + 2, 0], out[4 + 7, 0] = 0.9, 0.3  # a "3", and an "8" less likely, on one box
    out[:4, 1] = [51, 50, 20, 40]
    out[4 + 7, 1] = 0.6  # an "8" on the same place
    out[:4, 2] = [150, 50, 20, 40]
    out[4 + 0, 2] = 0.8
    dets = decode(out, 0.25, 0.5, agnostic=False, multi_label=True)
    # Box 0's "8" is its own candidate, then suppressed by box 1's likelier "8" (IoU 0.95).
    assert dets.digits == ["3", "1", "8"] and dets.confidence.tolist() == pytest.approx([0.9, 0.8, 0.6])
    assert decode(out, 0.25, 0.5, agnostic=False, multi_label=True, max_det=2).digits == ["3", "1"]
    # Its best class alone, box 0 gives no "8": box 1's "8" stands by itself.
    assert decode(out, 0.25, 0.5, agnostic=False).digits == ["3", "1", "8"]
    out[4 + 7, 1] = 0.0
    assert decode(out, 0.25, 0.5, agnostic=False, multi_label=True).digits == ["3", "1", "8"]
    assert decode(out, 0.25, 0.5, agnostic=False).digits == ["3", "1"]


def test_providers_fall_back_to_cpu_without_gpu():
    assert select_providers("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"], gpu=False) == ["CPUExecutionProvider"]
    assert select_providers("auto", ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], gpu=True)[0] == "TensorrtExecutionProvider"
    assert select_providers("cuda", ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], gpu=True) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(ModelError, match="no usable GPU"):
        select_providers("cuda", ["CPUExecutionProvider"], gpu=False)


def test_tensorrt_gets_one_profile_over_every_size_the_reader_uses(tmp_path, monkeypatch):
    from edge.pipeline import Reader

    model = make_tiny_onnx(tmp_path / "dyn.onnx", dynamic=True, extra={"segread_crop_size": "96"})
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "cache"))
    # This CPU build lacks TensorRT: asked for it anyway, ONNX Runtime warns and runs on the CPU,
    # so the detector's TensorRT set-up runs end to end here.
    monkeypatch.setattr(detect_module, "select_providers", lambda device: ["TensorrtExecutionProvider", "CPUExecutionProvider"])
    det = OnnxDetector(model)
    assert sorted(det.detect(np.full((128, 256, 3), 40, np.uint8)).digits) == ["1", "2", "3", "4"]
    reader = Reader(det, "digits:4")
    sizes = [*reader.tracker.find_sizes((720, 1280)), reader.tracker.read_size]
    options = tensorrt_options(det.input_name, det.dynamic, det.crop_size, engine_cache(model))
    side = lambda key: int(options[key].rpartition("x")[2])  # noqa: E731
    # Every find and crop size lies inside the one profile, which is tuned at the crop size:
    # no engine rebuild stalls the frame loop when the reader first steps down its find ladder.
    assert side("trt_profile_min_shapes") <= min(sizes) and max(sizes) <= side("trt_profile_max_shapes")
    assert (side("trt_profile_opt_shapes"), options["trt_profile_opt_shapes"]) == (96, "images:1x3x96x96")
    assert (side("trt_profile_min_shapes"), side("trt_profile_max_shapes")) == INPUT_SIZES
    # The built engines are kept under systemd's CacheDirectory, one folder per model content.
    assert Path(options["trt_engine_cache_path"]).parent == tmp_path / "cache" / "tensorrt"
    assert Path(options["trt_engine_cache_path"]).is_dir()
    # A fixed-input model needs no profile.
    assert "trt_profile_min_shapes" not in tensorrt_options("images", False, 640, None)


def test_a_gpu_provider_that_cannot_start_is_said_not_hidden(tmp_path, monkeypatch, caplog):
    model = make_tiny_onnx(tmp_path / "m.onnx")
    # No GPU here: asked for CUDA anyway, ONNX Runtime falls back to the CPU without failing, as
    # onnxruntime-gpu does on a GPU box whose CUDA or cuDNN libraries are missing (here too: it
    # cannot load libcublasLt), and as a CPU build does.
    monkeypatch.setattr(detect_module, "select_providers", lambda device: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    det = OnnxDetector(model, device="auto")
    assert det.device_name == "CPU"
    assert "could not start CUDA" in caplog.text and "reading on CPU" in caplog.text
    # Asked for the GPU by name, reading on the CPU instead is refused.
    with pytest.raises(ModelError, match=r"m.onnx: ONNX Runtime could not start CUDA .*reading on CPU"):
        OnnxDetector(model, device="cuda")
    monkeypatch.undo()
    caplog.clear()
    assert OnnxDetector(model, device="cpu").device_name == "CPU" and caplog.text == ""


def test_engine_cache_is_per_model_content_and_optional(tmp_path, monkeypatch, caplog):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"weights one")
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    first = engine_cache(model)
    assert first.parent == tmp_path / "xdg" / "segread" / "tensorrt" and first.name.startswith("m-")
    model.write_bytes(b"weights two")  # same name, new weights: TensorRT's own key would not see it
    assert engine_cache(model) != first
    # A cache that cannot be made costs a warning and the caching, never the reading.
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "file"))
    assert engine_cache(model) is None and "not cached" in caplog.text


def test_real_onnx_session_reads_metadata_and_maps_boxes_back(tiny_onnx):
    det = OnnxDetector(tiny_onnx, device="cpu")
    assert det.imgsz == (64, 64) and det.names[0] == "1"
    dets = det.detect(np.full((128, 256, 3), 40, np.uint8))
    assert sorted(dets.digits) == ["1", "2", "3", "4"]
    # Boxes come back in the 256x128 image's pixels, not the model's 64x64 input.
    assert dets.xyxy[:, 2].max() <= 256 and dets.xyxy[:, 0].min() >= 0


def test_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(ModelError, match="model not found"):
        OnnxDetector(tmp_path / "nope.onnx")


def test_an_install_without_shipped_models_says_how_to_give_one(tmp_path, monkeypatch):
    """A non-editable pip install leaves models/ behind in the clone: say so, not 'not found'."""
    import edge.models as models_module

    monkeypatch.setattr(models_module, "DEFAULT_MODELS_DIR", tmp_path / "site-packages" / "models")
    with pytest.raises(ModelError, match=r"no model given, and no shipped models beside this install .*pass --model PATH"):
        models_module.resolve_model(None)


def test_truncated_model_is_refused(tmp_path, tiny_onnx):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(Path(tiny_onnx).read_bytes()[:200])
    with pytest.raises(ModelError, match="cannot load model"):
        OnnxDetector(broken)


def test_model_without_names_or_with_wrong_shape_is_refused(tmp_path):
    pytest.importorskip("onnx")
    with pytest.raises(ModelError, match="no class names"):
        OnnxDetector(make_tiny_onnx(tmp_path / "nonames.onnx", names={}))
    with pytest.raises(ModelError, match="output shape"):
        OnnxDetector(make_tiny_onnx(tmp_path / "wrong.onnx", n_out=9))


def test_peer_model_finds_four_digits_on_a_real_frame(peer_model, run3):
    det = OnnxDetector(peer_model, device="cpu")
    dets = det.detect(cv2.imread(str(run3 / "0.jpg")))
    assert len(dets) >= 4
    # All on the LCD, which sits left of centre in the upper half of the 1280x720 frame.
    assert (dets.centers[:, 0] > 250).all() and (dets.centers[:, 0] < 650).all()


def test_a_model_trained_large_reads_display_crops_at_the_size_its_trainer_wrote(tmp_path):
    from edge.track import DisplayTracker

    path = make_tiny_onnx(tmp_path / "m.onnx", size=640, dynamic=True, extra={"segread_crop_size": "256"})
    detector = OnnxDetector(path, device="cpu", warmup=False)
    assert (detector.imgsz, detector.crop_size) == ((640, 640), 256)
    fed = []
    session_run = detector.session.run
    detector.session.run = lambda names, feeds: fed.append(next(iter(feeds.values())).shape) or session_run(names, feeds)
    tracker = DisplayTracker(detector, roi=(100, 100, 400, 220))
    frame = np.full((720, 1280, 3), 60, np.uint8)
    tracker.detect_crop(frame)
    tracker.detect_full(frame)
    assert fed == [(1, 3, 256, 256), (1, 3, 640, 640)]
    # An explicit crop size (segread read --crop-size) still wins.
    DisplayTracker(detector, crop_size=128, roi=(100, 100, 400, 220)).detect_crop(frame)
    assert fed[-1] == (1, 3, 128, 128)


def test_a_model_with_a_broken_crop_size_is_refused(tmp_path):
    path = make_tiny_onnx(tmp_path / "m.onnx", dynamic=True, extra={"segread_crop_size": "big"})
    with pytest.raises(ModelError, match="segread_crop_size"):
        OnnxDetector(path, device="cpu", warmup=False)


class CloseUpOnly(FakeDetector):
    """A crop-trained model (dynamic input, trained at 128) that finds a close-up display in the
    whole frame only near its own size, as the shipped model does on photos that are mostly LCD."""

    dynamic = True
    imgsz = (128, 128)
    crop_size = None

    def detect(self, image, imgsz=None):
        self.calls.append((image.shape, imgsz))
        whole = image.shape[:2] == (480, 640)
        return digits_at("0753") if not whole or imgsz == (160, 160) else digits_at("")


def test_a_display_too_close_for_the_find_size_is_found_a_step_down_the_ladder():
    from edge.pipeline import Reader

    detector = CloseUpOnly()
    reader = Reader(detector, "time")
    frame = np.full((480, 640, 3), 60, np.uint8)
    reading, mode = reader.read_image(frame)
    assert (reading.status, reading.text, mode) == ("accepted", "0753", "find")
    whole = [size for shape, size in detector.calls if shape[:2] == (480, 640)]
    assert whole == [(640, 640), (320, 320), (160, 160)]  # halving, down to the crop size (128)
    # Once found, the display is read from its crop: no more finds while the crop yields digits.
    detector.calls.clear()
    reader.read_image(frame)
    assert [size for shape, size in detector.calls if shape[:2] == (480, 640)] == []


def test_nothing_found_at_any_size_leaves_the_first_finds_verdict():
    from edge.pipeline import Reader

    detector = FakeDetector(default=digits_at(""))
    detector.dynamic, detector.crop_size, detector.imgsz = True, None, (128, 128)
    reader = Reader(detector, "time")
    reading, mode = reader.read_image(np.full((480, 640, 3), 60, np.uint8))
    assert (reading.status, reading.reason, mode) == ("held", "0 digits, expected 4", "find")
    assert [size for _, size in detector.calls] == [(640, 640), (320, 320), (160, 160)]
    assert reader.tracker.roi is None
    # Without the ladder (bench/photo_readings.py compares both), one find at the find size.
    detector.calls.clear()
    Reader(detector, "time", find_ladder=False).read_image(np.full((480, 640, 3), 60, np.uint8))
    assert [size for _, size in detector.calls] == [(640, 640)]
    # A frame smaller than the find size is enlarged only last: its finds start at its own size
    # (rounded up to the stride; one smaller than the crop is read at the crop size), then one
    # more at the find size.
    for shape, sizes in (((200, 300), [320, 160, 640]), ((79, 96), [128, 640])):
        detector.calls.clear()
        Reader(detector, "time").read_image(np.full((*shape, 3), 60, np.uint8))
        assert [size[0] for _, size in detector.calls] == sizes
    # A fixed-input model runs at its own size anyway: one find, no ladder.
    fixed = FakeDetector(default=digits_at(""))
    Reader(fixed, "time").read_image(np.full((480, 640, 3), 60, np.uint8))
    assert len(fixed.calls) == 1


class FarOnlyGuess(FakeDetector):
    """Reads four digits off the whole frame at a reduced size, but its display crop shows none:
    a guess at a small scale that the model's own scale does not bear out."""

    dynamic = True
    imgsz = (128, 128)
    crop_size = None

    def detect(self, image, imgsz=None):
        self.calls.append((image.shape, imgsz))
        return digits_at("0753") if image.shape[:2] == (480, 640) and imgsz == (320, 320) else digits_at("")


def test_a_find_below_the_find_size_counts_only_when_the_display_crop_confirms_it():
    from edge.pipeline import Reader

    reader = Reader(FarOnlyGuess(), "time")
    reading, _ = reader.read_image(np.full((480, 640, 3), 60, np.uint8))
    assert reading.status == "held" and reading.text is None


class FarOnSmallFrame(FakeDetector):
    """A 416 px frame from a camera further away: its display's digits are found only with the
    frame enlarged to 640, and its crop, read at the model's own scale, bears them out."""

    dynamic = True
    imgsz = (128, 128)
    crop_size = None

    def detect(self, image, imgsz=None):
        self.calls.append((image.shape, imgsz))
        if image.shape[:2] == (416, 416):
            return digits_at("0753", x0=150, y0=180, w=12, h=24, gap=4) if imgsz == (640, 640) else digits_at("")
        return digits_at("0753", x0=9, y0=9, w=12, h=24, gap=4)  # the crop, in its own pixels


def test_a_small_frame_is_found_once_more_enlarged_when_its_own_sizes_see_no_display():
    from edge.pipeline import Reader

    detector = FarOnSmallFrame()
    reader = Reader(detector, "time", level=False)
    reading, mode = reader.read_image(np.full((416, 416, 3), 60, np.uint8))
    assert (reading.status, reading.text, mode, reader.found_at) == ("accepted", "0753", "find", 640)
    assert [size for shape, size in detector.calls if shape[:2] == (416, 416)] == [(320, 320), (160, 160), (640, 640)]
    # Without the ladder, a find at the frame's own size only.
    detector = FarOnSmallFrame()
    assert Reader(detector, "time", find_ladder=False).read_image(np.full((416, 416, 3), 60, np.uint8))[0].text is None


class WashedOut(FakeDetector):
    """Sees the display's four digits on a dim frame; on a glaring one (mean above 200) its crop
    shows nothing and the whole frame only a stray digit in a corner."""

    def __init__(self):
        super().__init__()
        self.reader = None

    def detect(self, image, imgsz=None):
        self.calls.append((image.shape, imgsz))
        glare = image.mean() > 200
        if image.shape[:2] != (720, 1280):  # a crop, in its own coordinates
            x1, y1 = self.reader.tracker.roi[:2]
            return digits_at("") if glare else digits_at("0753", x0=500, y0=300).shifted(-x1, -y1)
        return digits_at("7", x0=1200, y0=640) if glare else digits_at("0753", x0=500, y0=300)


class SameViewAnyResolution(FakeDetector):
    """The display at the same place in the camera's view whatever its resolution (`shape`, set by
    the test): four digits on the whole frame; on a crop, the digits it holds, in its own pixels."""

    shape = (720, 1280)

    def __init__(self):
        super().__init__()
        self.reader = None

    def detect(self, image, imgsz=None):
        self.calls.append((image.shape, imgsz))
        h, w = self.shape
        display = digits_at("0753", x0=0.4 * w, y0=0.4 * h, w=0.02 * w, h=0.08 * h, gap=0.01 * w)
        if imgsz == (640, 640):  # a find, on the whole frame
            return display
        x1, y1, x2, y2 = self.reader.tracker.roi
        inside = (display.xyxy[:, 0] >= x1) & (display.xyxy[:, 1] >= y1) & (display.xyxy[:, 2] <= x2) & (display.xyxy[:, 3] <= y2)
        return display[inside].shifted(-x1, -y1)


def test_a_frame_of_another_size_is_read_where_the_display_is_in_it():
    from edge.pipeline import Reader

    detector = SameViewAnyResolution()
    reader = detector.reader = Reader(detector, "time", level=False)
    frame = np.full((720, 1280, 3), 60, np.uint8)
    assert [reader.read_image(frame)[1] for _ in range(2)] == ["find", "crop"]
    # The camera comes back at 1920x1080, the same view: the crop is scaled to it, no search.
    detector.shape, detector.calls = (1080, 1920), []
    reading, mode = reader.read_image(np.full((1080, 1920, 3), 60, np.uint8))
    assert (reading.text, mode) == ("0753", "crop") and reader.tracker.finds == 1
    # At 640x480 (another shape, another crop of the sensor) the old place means nothing: the whole
    # new frame is searched first, not a crop cut where the display was.
    detector.shape, detector.calls = (480, 640), []
    reading, mode = reader.read_image(np.full((480, 640, 3), 60, np.uint8))
    assert (reading.text, mode) == ("0753", "find")
    assert detector.calls[0] == ((480, 640, 3), (640, 640))
    assert reader.read_image(np.full((480, 640, 3), 60, np.uint8))[1] == "crop"


def test_a_find_that_sees_only_a_stray_digit_keeps_the_crop_where_the_display_last_read_whole():
    from edge.pipeline import Reader

    detector = WashedOut()
    reader = detector.reader = Reader(detector, "time", level=False)
    dim, glaring = np.full((720, 1280, 3), 60, np.uint8), np.full((720, 1280, 3), 230, np.uint8)
    assert reader.read_image(dim)[0].text == "0753"
    where = reader.tracker.roi
    reading, _ = reader.read_image(glaring)
    assert reading.status == "held" and len(reading.digits) == 1
    assert reader.tracker.roi == where  # not a crop around the stray digit in the corner
    # When the glare passes, the display reads from its crop again, with no search of the frame.
    finds = reader.tracker.finds
    reading, mode = reader.read_image(dim)
    assert (reading.text, mode, reader.tracker.finds) == ("0753", "crop", finds)


class TwoLooks(FakeDetector):
    """Answers each frame as scripted for the look the reader asks for: the whole frame (the find),
    its crop as it is (a view of the frame's own pixels) or its crop levelled (new pixels)."""

    def __init__(self, frame_image, looks):
        super().__init__()
        self.frame_image, self.looks, self.at = frame_image, looks, 0

    def detect(self, image, imgsz=None):
        look = "find" if image is self.frame_image else "as is" if np.shares_memory(image, self.frame_image) else "levelled"
        self.calls.append((self.at, look))
        return self.looks[self.at][look]


def read_two_ways(frames):
    """A reader over frames whose display crop reads (as it is, levelled) as scripted; the frame
    before them is the first find. Returns each frame's result, and the detector (its `calls`:
    frame and look)."""
    from edge.capture import Frame
    from edge.pipeline import Reader

    # In crop coordinates the digits sit 0.6 of their height in from the corner, as the crop pads them.
    looks = [{"find": digits_at("0752"), "as is": digits_at("0752", x0=36, y0=36)}]
    for (raw, raw_conf), (levelled, levelled_conf) in frames:
        looks.append({"as is": digits_at(raw, raw_conf, x0=36, y0=36), "levelled": digits_at(levelled, levelled_conf, x0=36, y0=36)})
    image = np.full((480, 640, 3), 60, np.uint8)
    detector = TwoLooks(image, looks)
    reader = Reader(detector, "time")
    results = []
    for i in range(len(looks)):
        detector.at = i
        results.append(reader.process(Frame(image, f"{i}.jpg", i, float(i))))
    return results[1:], detector


def test_the_crop_read_levelled_counts_when_it_is_the_more_confident_reading():
    results, _ = read_two_ways([(("0753", 0.6), ("0753", 0.9)), (("0754", 0.9), ("0754", 0.6)), (("0755", 0.3), ("0755", 0.8))])
    assert [r.reading.text for r in results] == ["0753", "0754", "0755"]
    assert [r.status for r in results] == ["accepted"] * 3
    assert ["levelled" in r.to_json()["flags"] for r in results] == [True, False, True]


def test_when_the_two_readings_differ_a_supported_session_takes_the_one_that_follows_it():
    # Seven agreeing frames establish the session; then the levelled crop reads 08:00 as 03:00, more confidently.
    agreeing = [((f"07{s}", 0.9), (f"07{s}", 0.9)) for s in range(53, 60)]
    results, _ = read_two_ways(agreeing + [(("0800", 0.7), ("0300", 0.9))])
    assert (results[-1].status, results[-1].reading.text) == ("accepted", "0800")
    assert "second look" in results[-1].reading.flags
    # Early in a session there is no track to follow: the more confident reading counts, as always.
    results, _ = read_two_ways([(("0753", 0.7), ("0353", 0.9))])
    assert results[0].reading.text == "0353"


def test_a_supported_session_reads_a_sure_frame_once_and_looks_twice_at_any_other():
    # Levelled, the crop reads best: from the third agreeing frame the session is supported.
    agreeing = [((f"07{s}", 0.7), (f"07{s}", 0.9)) for s in range(53, 60)]
    results, detector = read_two_ways(agreeing + [(("0800", 0.9), ("0300", 0.95)), (("0801", 0.9), ("0801", 0.6))])
    looks = {i: [look for at, look in detector.calls if at == i] for i in range(1, len(agreeing) + 3)}
    assert [r.reading.text for r in results] == [f"07{s}" for s in range(53, 60)] + ["0800", "0801"]
    assert looks[7] == ["levelled"]  # sure, and it follows the track: one pass of the model
    # A confident look that contradicts the track, or an unsure one, is not the end of the frame.
    assert looks[8] == ["levelled", "as is"] and "second look" in results[-2].reading.flags
    assert looks[9] == ["as is"]  # the crop as it is read best last: it goes first
    # With no track yet, every frame is read both ways.
    assert looks[1] == ["levelled", "as is"]


def test_levelling_the_background_brings_the_segments_under_glare_back_below_the_ground():
    from edge.track import flatten_light

    # A grey LCD ground (150) with two dark strokes (50); a smooth bright patch (up to +90) over the right one.
    crop = np.full((100, 240, 3), 150.0, np.float32)
    crop[20:80, 40:52] = crop[20:80, 180:192] = 50
    yy, xx = np.mgrid[:100, :240]
    glare = 90 * np.exp(-(((xx - 186) / 45.0) ** 2 + ((yy - 50) / 40.0) ** 2))
    glared = np.clip(crop + glare[..., None], 0, 255).astype(np.uint8)
    out = flatten_light(glared).astype(np.float32)

    stroke, ground, lit_ground = (slice(45, 55), slice(183, 189)), (slice(45, 55), slice(60, 70)), (slice(45, 55), slice(205, 215))
    # Under the glare the stroke is nearly as bright as the ground elsewhere, and the ground 60 levels brighter.
    assert glared[stroke].mean() > 0.9 * glared[ground].mean() and glared[lit_ground].mean() - glared[ground].mean() > 60
    assert out[stroke].mean() < 0.7 * out[ground].mean() and abs(out[lit_ground].mean() - out[ground].mean()) < 25
    assert out[lit_ground].mean() - out[stroke].mean() > 70  # the stroke keeps its darkness against its own ground


def strokes(light: float = 1.0, sigma: float = 0.0, seed: int = 0, shape=(120, 240)) -> np.ndarray:
    """A grey LCD ground (150) with dark strokes (50), dimmed to `light`, then sensor noise of `sigma`."""
    crop = np.full((*shape, 3), 150.0)
    for x in (40, 100, 160, 220):
        crop[20:100, x:x + 12] = 50
    noise = np.random.default_rng(seed).normal(0, sigma, crop.shape) if sigma else 0
    return np.clip(crop * light + noise, 0, 255).astype(np.uint8)


def test_noise_is_judged_against_the_displays_contrast():
    from edge.track import NOISY, noise_percent

    assert noise_percent(strokes()) < 0.5  # the strokes' edges are not noise
    assert noise_percent(strokes(sigma=4)) < NOISY  # full light: the strokes stand well above it
    assert noise_percent(strokes(light=0.3, sigma=4)) > NOISY  # the same noise on a dim display drowns them
    assert noise_percent(np.full((1, 1, 3), 9, np.uint8)) == 0.0


class Recording(FakeDetector):
    def detect(self, image, imgsz=None):
        self.images = [*getattr(self, "images", []), image.copy()]
        return super().detect(image, imgsz)


@pytest.mark.parametrize("light, sigma, smoothed", [(1.0, 0.0, False), (1.0, 4.0, False), (0.3, 4.0, True)])
def test_a_noisy_crop_is_smoothed_before_it_is_read_and_says_so(light, sigma, smoothed):
    from edge.capture import Frame
    from edge.pipeline import Reader
    from edge.track import noise_percent

    frame = strokes(light, sigma, seed=1, shape=(480, 640))
    # The find: the whole frame, then its crop; then one crop read as it is (no levelled look).
    script = [digits_at("0752", x0=30, y0=30), digits_at("0752", x0=36, y0=36), digits_at("0753", x0=36, y0=36)]
    detector = Recording(script)
    reader = Reader(detector, "time", level=False, stretch=False)  # its levels span 100: the smoothing alone here
    reader.process(Frame(frame, "0.jpg", 0, 0.0))
    x1, y1, x2, y2 = reader.tracker.roi
    result = reader.process(Frame(frame, "1.jpg", 1, 1.0))
    seen = detector.images[-1]
    assert result.reading.text == "0753" and ("smoothed" in result.to_json()["flags"]) is smoothed
    if smoothed:
        assert noise_percent(seen) < noise_percent(frame[y1:y2, x1:x2]) / 2
    else:
        assert np.array_equal(seen, frame[y1:y2, x1:x2])  # a clean crop reaches the model untouched


def test_a_frame_of_narrow_grey_levels_reaches_the_model_stretched_and_says_so():
    from edge.capture import Frame
    from edge.pipeline import Reader
    from edge.track import stretch_narrow

    clean = strokes(shape=(480, 640))  # levels 50 and 150: a span of 100, under half the range
    hazy = (clean * 0.3 + 160).astype(np.uint8)  # 175 and 205
    wide = clean.copy()
    wide[:40] = 0
    wide[-40:] = 255  # the same strokes with black and white in view: the frame spans the range
    assert stretch_narrow(wide) is None
    assert stretch_narrow(np.full((60, 80, 3), 120, np.uint8)) is None  # one level: nothing but noise to stretch
    out = stretch_narrow(hazy)
    assert out.dtype == np.uint8 and out.shape == hazy.shape and (out.min(), out.max()) == (0, 255)

    for frame, stretched in ((hazy, True), (wide, False)):
        detector = Recording(default=digits_at("0752", x0=30, y0=30))
        reader = Reader(detector, "time", level=False)
        result = reader.process(Frame(frame, "0.jpg", 0, 0.0))
        assert ("stretched" in result.to_json()["flags"]) is stretched
        seen = detector.images[0]  # the find: the whole frame
        assert np.array_equal(seen, stretch_narrow(frame) if stretched else frame)
        assert np.array_equal(reader.read_image(frame)[0].digits.xyxy, result.reading.digits.xyxy)  # boxes in the frame's own pixels
    # Turned off (`stretch = false` in segread.toml), the frame reaches the model as it is.
    detector = Recording(default=digits_at("0752", x0=30, y0=30))
    result = Reader(detector, "time", level=False, stretch=False).process(Frame(hazy, "0.jpg", 0, 0.0))
    assert np.array_equal(detector.images[0], hazy) and "stretched" not in result.to_json()["flags"]


def test_boxes_read_on_a_turned_crop_map_back_to_the_upright_boxes_around_them():
    dets = Detections(np.array([[10, 20, 30, 60]], np.float32), [0.9], [3])
    shift = np.array([[1.0, 0.0, 100], [0.0, 1.0, 50]])
    assert np.allclose(dets.transformed(shift).xyxy, dets.shifted(100, 50).xyxy)
    # A quarter turn about the box's centre (20, 40): 20 wide and 40 tall becomes 40 wide and 20 tall.
    quarter = cv2.getRotationMatrix2D((20, 40), 90, 1.0)
    assert np.allclose(dets.transformed(quarter).xyxy, [[0, 30, 40, 50]], atol=1e-4)
    assert len(Detections.empty().transformed(quarter)) == 0


def leaning(row: Detections, degrees: float) -> Detections:
    """The row with each box moved down by its centre's x times tan(degrees): the row turned."""
    slope = np.tan(np.radians(degrees))
    return Detections(row.xyxy + np.outer(slope * row.centers[:, 0], [0, 1, 0, 1]), row.confidence, row.class_id)


def test_the_tilt_of_a_row_of_digits():
    from edge.track import row_angle

    level = digits_at("1234")
    assert abs(row_angle(level)) < 1e-6
    assert row_angle(leaning(level, 15.0)) == pytest.approx(15.0, abs=1e-3)  # right end lower: positive
    assert row_angle(level[:1]) is None


def test_a_row_that_leans_about_the_turning_angle_does_not_flip_from_frame_to_frame():
    from edge.track import MIN_TURN, DisplayTracker

    level = digits_at("1234")
    frame = np.zeros((720, 1280, 3), np.uint8)
    tracker = DisplayTracker(FakeDetector())
    seen = []
    for degrees in (MIN_TURN - 1, MIN_TURN + 0.5, MIN_TURN - 1, -MIN_TURN - 1, MIN_TURN - 3):
        tracker.follow(leaning(level, degrees), frame, whole=True)
        seen.append(tracker.tilted)
    assert seen == [False, True, True, True, False]
    tracker.deskew = False
    tracker.follow(leaning(level, 20), frame, whole=True)
    assert not tracker.tilted


def test_selecting_no_detection_keeps_the_class_scores_shape():
    dets = Detections(np.zeros((2, 4)), np.array([0.9, 0.8]), np.array([1, 2]), np.full((2, 10), 0.1))
    none = dets[np.nonzero(np.array([False, False]))[0]]
    assert len(none) == 0 and none.class_scores.shape == (0, 10)
    assert len(Detections.concat([dets, none])) == 2


@pytest.mark.parametrize("key, value", [
    ("imgsz", "garbage"), ("imgsz", "'abc'"), ("imgsz", "[0, 0]"), ("imgsz", "[64, 64, 64]"), ("imgsz", "[True, 64]"),
    ("imgsz", "[100000, 100000]"), ("stride", "x"), ("stride", "0"), ("segread_crop_size", "²"),
    ("names", "5"), ("names", "{0: '0', 'a': '1'}"), ("names", "[[[[[[" * 40),
])
def test_a_model_with_unreadable_metadata_is_one_error_naming_the_key_and_value(tmp_path, key, value):
    path = make_tiny_onnx(tmp_path / "m.onnx", dynamic=True, extra={key: value})
    with pytest.raises(ModelError) as caught:
        OnnxDetector(path, device="cpu")
    message = str(caught.value)
    assert "\n" not in message and value[:40] in message
    assert ("class names" if key == "names" else key) in message


def test_a_model_for_many_classes_says_how_many_and_the_first_few_not_every_name(tmp_path):
    coco = [f"class number {i}" for i in range(80)]
    path = make_tiny_onnx(tmp_path / "coco.onnx", names=dict(enumerate(coco)), n_out=84)
    with pytest.raises(ModelError, match=r"80 classes \('class number 0', .*'class number 9', \.\.\.\) are not the ten digits") as caught:
        OnnxDetector(path, device="cpu")
    assert "class number 10" not in str(caught.value) and len(str(caught.value)) < 300
    # Ten classes that are not the digits are all named.
    path = make_tiny_onnx(tmp_path / "letters.onnx", names=dict(enumerate("abcdefghij")))
    with pytest.raises(ModelError, match=r"classes \('a', 'b', .*'j'\) are not the ten digits"):
        OnnxDetector(path, device="cpu")
