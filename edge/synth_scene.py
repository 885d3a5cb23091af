"""Drawing for the synthetic LCD renderer: seven-segment panels, the monitor scene, camera effects.

Images here are float32 BGR in 0-1 until `to_uint8`. Every random choice comes from an explicit
`np.random.Generator`; nothing happens at import. The public API lives in `edge.synth`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.segments import SEGMENTS

_SUPER = 3  # supersampling factor for anti-aliased segments


def sample_style(rng: np.random.Generator) -> dict:
    """Draw a random look for the LCD and the scene; callers may override any key."""
    u = rng.uniform
    level = u(0.22, 0.85)  # LCD background brightness, dark to light
    return {
        "bg_bgr": (level * u(0.80, 0.97), level * u(0.97, 1.06), level * u(0.86, 1.0)),
        "bg_gradient": u(-0.18, 0.18),
        "contrast": u(0.22, 0.8),  # how much a lit segment darkens the background
        # Unlit segments show faintly on many LCDs, well below a lit one.
        "off_level": u(0.0, 0.06) if rng.random() < 0.6 else u(0.06, 0.15),
        "ghost_level": u(0.15, 0.5),  # a fading segment of the previous reading
        "slant_deg": u(0.0, 10.0),
        "digit_frac": u(0.58, 0.76),  # digit height / panel height
        "aspect": u(0.48, 0.62),  # digit width / digit height
        "thickness": u(0.15, 0.25),  # segment thickness / digit width
        "seg_gap": u(0.04, 0.18),  # gap between segments / thickness
        "digit_gap": u(0.22, 0.5),  # space between digits / digit width
        "mid_gap": u(0.0, 0.35),  # extra space between MM and SS / digit width
        "margin_x": u(0.12, 0.45),  # side margin / digit height
        "offset_y": u(-0.06, 0.06),
        "seven_f": bool(rng.random() < 0.2),  # some displays draw 7 with segment f
        "nine_tail": bool(rng.random() < 0.85),  # 9 with segment d
        "colon": bool(rng.random() < 0.15),
        "legend": bool(rng.random() < 0.3),  # tiny printed marks inside the LCD
        "blur": u(0.0, 1.3) if rng.random() < 0.7 else u(1.3, 2.2),  # webcams focus past the LCD
        "noise": u(0.004, 0.035),
        "jpeg": int(rng.integers(35, 95)) if rng.random() < 0.7 else 0,
        "glare": u(0.15, 0.6) if rng.random() < 0.2 else 0.0,
        "exposure": u(0.45, 1.15) if rng.random() < 0.3 else u(0.8, 1.15),
        "warm": u(0.0, 1.0),  # warm indoor white balance, 0 = neutral
        "vignette": u(0.0, 0.45),
        "motion": u(0.0, 7.0) if rng.random() < 0.2 else 0.0,
        "case_level": u(0.7, 0.95),
        "layout_seed": int(rng.integers(0, 2**31)),
        # Lit segments are not equally dark (viewing angle, drive, a thin middle bar): each
        # segment of each place keeps its own darkness, down to 1 - seg_var of the darkest.
        "seg_var": u(0.0, 0.45) if rng.random() < 0.6 else 0.0,
    }


def _hex_h(x0: float, x1: float, y: float, t: float) -> list[tuple[float, float]]:
    h = t / 2
    return [(x0, y), (x0 + h, y - h), (x1 - h, y - h), (x1, y), (x1 - h, y + h), (x0 + h, y + h)]


def _hex_v(x: float, y0: float, y1: float, t: float) -> list[tuple[float, float]]:
    h = t / 2
    return [(x, y0), (x + h, y0 + h), (x + h, y1 - h), (x, y1), (x - h, y1 - h), (x - h, y0 + h)]


def segment_polygons(w: float, h: float, t: float, gap: float, slant: float) -> dict[str, np.ndarray]:
    """Hexagonal segments of a digit cell of size w x h (origin top-left), sheared by `slant` rad."""
    xl, xr, yt, ym, yb = t / 2, w - t / 2, t / 2, h / 2, h - t / 2
    g = gap
    polys = {
        "a": _hex_h(xl + g, xr - g, yt, t), "g": _hex_h(xl + g, xr - g, ym, t),
        "d": _hex_h(xl + g, xr - g, yb, t), "f": _hex_v(xl, yt + g, ym - g, t),
        "b": _hex_v(xr, yt + g, ym - g, t), "e": _hex_v(xl, ym + g, yb - g, t),
        "c": _hex_v(xr, ym + g, yb - g, t),
    }
    tan = math.tan(slant)
    out = {}
    for name, pts in polys.items():
        p = np.array(pts, np.float32)
        p[:, 0] += (h - p[:, 1]) * tan  # italic: the top leans right
        out[name] = p
    return out


def lit_segments(ch: str, style: dict) -> str:
    segs = SEGMENTS[ch]
    if ch == "7" and style.get("seven_f"):
        segs += "f"
    if ch == "9" and not style.get("nine_tail", True):
        segs = segs.replace("d", "")
    return segs


def panel_width(n: int, style: dict, height: float) -> float:
    """Width of an n-character panel of the given height; linear in height."""
    dh = height * style["digit_frac"]
    dw = dh * style["aspect"]
    mid = dw * style["mid_gap"] if n == 4 else 0.0
    slant = dh * math.tan(math.radians(style["slant_deg"]))
    return 2 * dh * style["margin_x"] + n * dw + (n - 1) * dw * style["digit_gap"] + mid + slant


def draw_panel(text: str, style: dict, height: int, ghost: str | None = None):
    """Clean LCD panel: returns (float BGR image, (n, 4) boxes of the non-blank characters)."""
    if ghost is not None and len(ghost) != len(text):
        raise ValueError(f"ghost {ghost!r} must have as many characters as text {text!r}")
    s = _SUPER
    dh = height * style["digit_frac"]
    dw = dh * style["aspect"]
    t = dw * style["thickness"]
    slant = math.radians(style["slant_deg"])
    pitch = dw * (1 + style["digit_gap"])
    mid = dw * style["mid_gap"] if len(text) == 4 else 0.0
    mx = dh * style["margin_x"]
    width = int(round(panel_width(len(text), style, height)))
    y0 = (height - dh) / 2 + style["offset_y"] * height
    polys = segment_polygons(dw * s, dh * s, t * s, t * style["seg_gap"] * s, slant)
    layers = {k: np.zeros((height * s, width * s), np.uint8) for k in ("on", "off", "ghost")}
    # One display's uneven segments: the same darkness per (place, segment) in every frame.
    seg_rng = np.random.default_rng([style["layout_seed"], 7])
    seg_level = 1.0 - seg_rng.uniform(0.0, style.get("seg_var", 0.0), (len(text), 7))
    boxes = []
    pad = 0.03 * dh
    for i, ch in enumerate(text):
        x0 = mx + i * pitch + (mid if i >= 2 else 0.0)
        on = lit_segments(ch, style)
        old = lit_segments(ghost[i], style) if ghost is not None else ""
        for k, (name, p) in enumerate(polys.items()):
            layer = "on" if name in on else "ghost" if name in old else "off"
            pts = np.round((p + (x0 * s, y0 * s)) * 16).astype(np.int32)
            value = int(round(255 * seg_level[i, k])) if layer == "on" else 255
            cv2.fillPoly(layers[layer], [pts], value, cv2.LINE_AA, shift=4)
        if on:
            lit = np.concatenate([polys[n] for n in on]) / s + (x0, y0)
            x1, yy1 = lit.min(0) - pad
            x2, yy2 = lit.max(0) + pad
            boxes.append((max(0.0, x1), max(0.0, yy1), min(width, x2), min(height, yy2)))
    if style.get("colon") and len(text) == 4:
        cx = mx + 2 * pitch - (pitch - dw + mid) / 2 + mid
        for fy in (0.3, 0.7):
            cy = y0 + dh * fy
            c = (int((cx + (dh - dh * fy) * math.tan(slant)) * s), int(cy * s))
            cv2.circle(layers["on"], c, max(1, int(t * 0.45 * s)), 255, -1, cv2.LINE_AA)
    if style.get("legend"):
        font_scale = max(0.2, height * s / 300)
        cv2.putText(layers["on"], "CNT", (int(mx * s * 0.6), int((height - 3) * s)),
                    cv2.FONT_HERSHEY_SIMPLEX, font_scale, 255, max(1, s), cv2.LINE_AA)
    dark = np.zeros((height, width), np.float32)
    levels = {"on": 1.0, "off": style["off_level"], "ghost": style["ghost_level"]}
    for name, layer in layers.items():
        small = cv2.resize(layer, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        dark = np.maximum(dark, small * levels[name])
    bg = np.empty((height, width, 3), np.float32)
    bg[:] = np.array(style["bg_bgr"], np.float32)
    ramp = np.linspace(1 + style["bg_gradient"], 1 - style["bg_gradient"], height, dtype=np.float32)
    bg *= ramp[:, None, None]
    edge = _edge_shade(height, width)
    tint = np.array([1.0, 0.97, 0.94], np.float32)  # dark segments lean slightly blue-black
    img = bg * (1 - style["contrast"] * dark[..., None] * tint) * edge[..., None]
    return img, np.array(boxes, np.float32).reshape(-1, 4)


def _edge_shade(h: int, w: int) -> np.ndarray:
    """A recessed window: darker towards the border, most at the top and left."""
    ys = np.minimum(np.arange(h) / max(1.0, 0.12 * h), 1.0)
    xs = np.minimum(np.arange(w) / max(1.0, 0.06 * w), 1.0)
    ye = np.minimum((h - 1 - np.arange(h)) / max(1.0, 0.06 * h), 1.0)
    xe = np.minimum((w - 1 - np.arange(w)) / max(1.0, 0.04 * w), 1.0)
    return (0.8 + 0.2 * np.minimum.outer(np.minimum(ys, ye), np.minimum(xs, xe))).astype(np.float32)


SOFT_GLARE_EDGE = 0.25  # a glare blob's edge blurred over this share of its size: a window's reflection


def add_glare(img: np.ndarray, rng: np.random.Generator, strength: float, size: float,
              edge: float = SOFT_GLARE_EDGE) -> None:
    """Add a bright elliptical blob in place, its edge blurred over `edge` of `size` (soft by
    default; 0.05: the hard edge of a lamp's reflection, crossing a digit)."""
    h, w = img.shape[:2]
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    ax, ay = size * rng.uniform(0.3, 1.0), size * rng.uniform(0.15, 0.6)
    blob = np.zeros((h, w), np.float32)
    cv2.ellipse(blob, (int(cx), int(cy)), (int(ax) + 1, int(ay) + 1), rng.uniform(0, 180), 0, 360, 1.0, -1)
    blob = cv2.GaussianBlur(blob, (0, 0), max(1.0, size * edge))
    img += strength * blob[..., None] * np.array([0.95, 1.0, 1.0], np.float32)


def degrade(img: np.ndarray, rng: np.random.Generator, style: dict, scale: float = 1.0) -> np.ndarray:
    """Blur, motion, noise, glare, exposure, haze, JPEG; `scale` sizes blur kernels. Returns uint8 BGR.
    `haze` is the contrast left (0-1) as the image is pulled toward a light grey: a fogged lens,
    a scratched or dusty cover over the LCD."""
    img = img * style.get("exposure", 1.0)
    if style.get("haze", 0) > 0:
        img = img * style["haze"] + (1 - style["haze"]) * 0.6
    if style.get("glare", 0) > 0:
        add_glare(img, rng, style["glare"], 0.35 * min(img.shape[:2]) * max(scale, 0.3), style.get("glare_edge", SOFT_GLARE_EDGE))
    if style.get("motion", 0) > 0.5:
        k = int(style["motion"] * scale) | 1
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    if style.get("blur", 0) * scale > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), style["blur"] * scale)
    dim = 1.0 / max(0.35, min(1.0, style.get("exposure", 1.0)))  # low light: more sensor noise
    sigma = style.get("noise", 0.0) * dim
    if sigma > 0:
        img = img + rng.standard_normal(img.shape[:2] + (1,), dtype=np.float32) * sigma
        img = img + rng.standard_normal(img.shape, dtype=np.float32) * (sigma * 0.5)
    out = to_uint8(img)
    if style.get("jpeg", 0):
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(style["jpeg"])])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def _rounded_rect(img: np.ndarray, x1, y1, x2, y2, r, color, thickness=-1) -> None:
    """Rounded rectangle, filled (thickness -1) or outlined, anti-aliased, float coordinates."""
    x1, y1, x2, y2 = (int(round(v)) for v in (x1, y1, x2, y2))
    r = int(max(1, min(r, (x2 - x1) / 2, (y2 - y1) / 2)))
    if thickness < 0:
        cv2.rectangle(img, (x1 + r, y1), (x2 - r, y2), color, -1)
        cv2.rectangle(img, (x1, y1 + r), (x2, y2 - r), color, -1)
        for cx, cy in ((x1 + r, y1 + r), (x2 - r, y1 + r), (x1 + r, y2 - r), (x2 - r, y2 - r)):
            cv2.circle(img, (cx, cy), r, color, -1, cv2.LINE_AA)
        return
    lines = (((x1 + r, y1), (x2 - r, y1)), ((x1 + r, y2), (x2 - r, y2)),
             ((x1, y1 + r), (x1, y2 - r)), ((x2, y1 + r), (x2, y2 - r)))
    for a, b in lines:
        cv2.line(img, a, b, color, thickness, cv2.LINE_AA)
    corners = (((x1 + r, y1 + r), 180), ((x2 - r, y1 + r), 270), ((x2 - r, y2 - r), 0), ((x1 + r, y2 - r), 90))
    for (cx, cy), start in corners:
        cv2.ellipse(img, (cx, cy), (r, r), 0, start, start + 90, color, thickness, cv2.LINE_AA)


def _text(img, s: str, cx: float, cy: float, width: float, color, thick: int = 1) -> None:
    """Put text centred at (cx, cy), scaled to about `width` pixels."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(s, font, 1.0, thick)
    scale = max(0.15, width / max(tw, 1))
    org = (int(cx - tw * scale / 2), int(cy + th * scale / 2))
    mask = np.zeros(img.shape[:2], np.uint8)  # putText draws on uint8 only
    cv2.putText(mask, s, org, font, scale, 255, thick, cv2.LINE_AA)
    ys, xs = np.nonzero(mask)
    if len(ys):
        a = mask[ys, xs].astype(np.float32)[:, None] / 255
        img[ys, xs] = img[ys, xs] * (1 - a) + np.array(color, np.float32) * a


def draw_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Out-of-focus indoor clutter: a warm wall, grey machine parts, a cable, a flywheel."""
    w, h = size
    top = np.array([rng.uniform(0.45, 0.7), rng.uniform(0.6, 0.8), rng.uniform(0.75, 0.95)], np.float32)
    bottom = top * rng.uniform(0.5, 0.9)
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = np.ascontiguousarray(np.broadcast_to(top * (1 - ramp) + bottom * ramp, (h, w, 3)))
    for _ in range(int(rng.integers(3, 7))):
        grey = rng.uniform(0.25, 0.8)
        color = (grey * rng.uniform(0.85, 1.0), grey * rng.uniform(0.9, 1.0), grey * rng.uniform(0.9, 1.1))
        kind = rng.integers(0, 3)
        if kind == 0:
            center = (int(rng.uniform(0, w)), int(rng.uniform(0, h * 1.3)))
            axes = (int(rng.uniform(0.15, 0.5) * w), int(rng.uniform(0.15, 0.5) * w))
            cv2.ellipse(img, center, axes, 0, 0, 360, color, -1, cv2.LINE_AA)
            cv2.ellipse(img, center, axes, 0, 0, 360, tuple(c * 0.7 for c in color), max(2, w // 200), cv2.LINE_AA)
        elif kind == 1:
            pts = rng.uniform((-0.2 * w, -0.2 * h), (1.2 * w, 1.2 * h), (int(rng.integers(3, 6)), 2))
            cv2.fillPoly(img, [pts.astype(np.int32)], color, cv2.LINE_AA)
        else:
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            x2, y2 = x + rng.uniform(0.1, 0.5) * w, y + rng.uniform(0.1, 0.6) * h
            cv2.rectangle(img, (int(x), int(y)), (int(x2), int(y2)), color, -1)
    if rng.random() < 0.7:  # a dark cable across the frame
        p1 = (0, int(rng.uniform(0, h)))
        p2 = (w, int(rng.uniform(0, h)))
        cv2.line(img, p1, p2, (0.08, 0.08, 0.09), max(2, int(w * rng.uniform(0.005, 0.012))), cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(1.5, 4.0) * w / 1280)


def draw_monitor(img: np.ndarray, panel: np.ndarray, rng: np.random.Generator, style: dict) -> tuple[float, float]:
    """Draw the monitor case around `panel` and paste it; returns the panel's top-left (x, y)."""
    h, w = img.shape[:2]
    ph, pw = panel.shape[:2]
    cw, chh = pw * rng.uniform(1.65, 1.9), pw * rng.uniform(2.3, 2.6)
    px = rng.uniform(0.08 * w + (cw - pw) / 2, 0.92 * w - (cw + pw) / 2)
    py = rng.uniform(0.22 * h, 0.5 * h)
    cx = px + pw / 2
    x1, y1 = cx - cw / 2, py - 0.2 * chh
    x2, y2 = x1 + cw, y1 + chh
    level = style["case_level"]
    case = (level * 0.96, level, level)
    shadow = np.zeros((h, w), np.float32)
    off = pw * 0.05
    _rounded_rect(shadow, x1 + off, y1 + off, x2 + off, y2 + off, pw * 0.1, 1.0)
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(2.0, pw * 0.05))
    img *= (1 - 0.5 * shadow)[..., None]
    _rounded_rect(img, x1, y1, x2, y2, pw * 0.1, case)
    body = np.zeros((h, w), np.float32)  # the lower face catches more light
    _rounded_rect(body, x1 + pw * 0.08, py + ph * 1.6, x2 - pw * 0.08, y2 - pw * 0.08, pw * 0.05, 1.0)
    img += (cv2.GaussianBlur(body, (0, 0), pw * 0.04) * 0.06)[..., None]
    _rounded_rect(img, x1, y1, x2, y2, pw * 0.1, tuple(c * 1.08 for c in case), max(2, int(pw * 0.03)))
    _rounded_rect(img, x1, y1, x2, y2, pw * 0.1, tuple(c * 0.55 for c in case), 1)
    bx, by = pw * 0.08, ph * 0.17
    bezel = (px - bx, py - by, px + pw + bx, py + ph + by, pw * 0.06)
    _rounded_rect(img, *bezel, tuple(c * 1.04 for c in case))
    _rounded_rect(img, *bezel, tuple(c * 0.6 for c in case), max(1, int(pw * 0.015)))
    ix, iy = int(round(px)), int(round(py))
    region = img[max(iy, 0) : iy + ph, max(ix, 0) : ix + pw]
    region[:] = panel[max(-iy, 0) : max(-iy, 0) + region.shape[0], max(-ix, 0) : max(-ix, 0) + region.shape[1]]
    cv2.rectangle(img, (ix - 1, iy - 1), (ix + pw, iy + ph), tuple(c * 0.45 for c in case), 1, cv2.LINE_AA)
    ink = (0.22, 0.22, 0.24)
    sy = py + ph * 1.55
    strip = (cx - pw * 0.58, sy - ph * 0.13, cx + pw * 0.58, sy + ph * 0.13, ph * 0.1)
    _rounded_rect(img, *strip, tuple(c * 0.85 for c in case))
    _text(img, "SCAN TIME CNT TOTAL CNT CAL", cx, sy, pw * 1.1, ink, max(1, int(pw / 150)))
    _text(img, "SUNNY", cx, py + ph * 2.25, pw * 0.42, (0.25, 0.2, 0.75), max(1, int(pw / 120)))
    r = pw * 0.14
    for dx, dy, label in ((-0.5, 0.0, "SET"), (0.0, 0.25, "RESET"), (0.5, 0.0, "MODE")):
        bcx, bcy = cx + dx * cw * 0.85, py + ph * 3.0 + dy * ph
        cv2.circle(img, (int(bcx), int(bcy)), int(r), tuple(c * 1.05 for c in case), -1, cv2.LINE_AA)
        cv2.circle(img, (int(bcx), int(bcy)), int(r), (0.3, 0.32, 0.3), max(2, int(pw * 0.02)), cv2.LINE_AA)
        _text(img, label, bcx, bcy, r * 1.3, ink, 1)
    return float(ix), float(iy)


def camera_matrix(size: tuple[int, int], dx: float, dy: float, scale: float, angle_deg: float) -> np.ndarray:
    """2x3 affine: rotate and scale about the frame centre, then shift by (dx, dy)."""
    m = cv2.getRotationMatrix2D((size[0] / 2, size[1] / 2), angle_deg, scale)
    m[:, 2] += (dx, dy)
    return m


def transform_boxes(boxes: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Axis-aligned bounds of each xyxy box after the affine `m`."""
    if len(boxes) == 0:
        return boxes.reshape(0, 4).astype(np.float32)
    x1, y1, x2, y2 = boxes.T
    corners = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x1, y2], 1), np.stack([x2, y2], 1)], 1)
    moved = corners @ m[:, :2].T + m[:, 2]
    return np.concatenate([moved.min(1), moved.max(1)], 1).astype(np.float32)


def light(img: np.ndarray, style: dict) -> np.ndarray:
    """Warm white balance and vignette (exposure is applied in `degrade`)."""
    h, w = img.shape[:2]
    warm = style.get("warm", 0.0)
    img = img * np.array([1 - 0.35 * warm, 1 - 0.12 * warm, 1 + 0.08 * warm], np.float32)
    v = style.get("vignette", 0.0)
    if v > 0:
        yy = (np.arange(h, dtype=np.float32) - h / 2) / (h / 2)
        xx = (np.arange(w, dtype=np.float32) - w / 2) / (w / 2)
        img = img * (1 - v * 0.5 * (xx[None, :] ** 2 + yy[:, None] ** 2))[..., None]
    return img
