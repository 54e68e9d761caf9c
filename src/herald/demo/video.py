"""A short MP4 for the demo's video-header template, made without an encoder.

WhatsApp takes H.264 video in an MP4 (docs/whatsapp.md). H.264 lets a macroblock carry its samples
uncompressed (I_PCM), so a valid Baseline stream needs no transform or entropy coder: each frame is
one IDR slice of I_PCM macroblocks. The file is bigger than an encoder's would be, and still tiny at
this size. The container is the ISO base media file format's minimum for one video track, its index
(``moov``) before the data so a browser shows the first frame from the file's first bytes.
"""

from __future__ import annotations

import struct

FILENAME = "winter-teaser.mp4"
WIDTH, HEIGHT = 128, 80  # whole 16×16 macroblocks
FRAMES, FPS = 10, 5
_TIMESCALE = 1000
_PROFILE, _COMPATIBILITY, _LEVEL = 66, 0xC0, 30  # Baseline (constrained), level 3.0


class _Bits:
    """An RBSP written bit by bit: fixed-width fields and Exp-Golomb codes."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, width: int, value: int) -> None:
        self.bits += [(value >> (width - 1 - i)) & 1 for i in range(width)]

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(2 * code.bit_length() - 1, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        while len(self.bits) % 8:
            self.bits.append(0)

    def raw(self, data: bytes) -> None:
        for byte in data:
            self.u(8, byte)

    def trailing(self) -> bytes:
        self.bits.append(1)
        self.align_zero()
        return bytes(int("".join(map(str, self.bits[i:i + 8])), 2) for i in range(0, len(self.bits), 8))


def _nal(kind: int, rbsp: bytes) -> bytes:
    """A NAL unit: header byte (nal_ref_idc 3) and the payload with emulation prevention bytes."""
    out = bytearray([0x60 | kind])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _sps() -> bytes:
    b = _Bits()
    b.u(8, _PROFILE)
    b.u(8, _COMPATIBILITY)
    b.u(8, _LEVEL)
    b.ue(0)  # seq_parameter_set_id
    b.ue(0)  # log2_max_frame_num_minus4
    b.ue(2)  # pic_order_cnt_type: output order is decoding order
    b.ue(1)  # max_num_ref_frames
    b.u(1, 0)  # gaps_in_frame_num_value_allowed_flag
    b.ue(WIDTH // 16 - 1)
    b.ue(HEIGHT // 16 - 1)
    b.u(1, 1)  # frame_mbs_only_flag
    b.u(1, 1)  # direct_8x8_inference_flag
    b.u(1, 0)  # frame_cropping_flag
    b.u(1, 0)  # vui_parameters_present_flag
    return _nal(7, b.trailing())


def _pps() -> bytes:
    b = _Bits()
    b.ue(0)  # pic_parameter_set_id
    b.ue(0)  # seq_parameter_set_id
    b.u(1, 0)  # entropy_coding_mode_flag: CAVLC
    b.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    b.ue(0)  # num_slice_groups_minus1
    b.ue(0)  # num_ref_idx_l0_default_active_minus1
    b.ue(0)  # num_ref_idx_l1_default_active_minus1
    b.u(1, 0)  # weighted_pred_flag
    b.u(2, 0)  # weighted_bipred_idc
    b.se(0)  # pic_init_qp_minus26
    b.se(0)  # pic_init_qs_minus26
    b.se(0)  # chroma_qp_index_offset
    b.u(1, 0)  # deblocking_filter_control_present_flag
    b.u(1, 0)  # constrained_intra_pred_flag
    b.u(1, 0)  # redundant_pic_cnt_present_flag
    return _nal(8, b.trailing())


_SNOW_FROM = HEIGHT - 16  # the last row of macroblocks


def _picture(frame: int) -> list[list[int]]:
    """Luma rows of a winter sky (light at the top) over snow, and a bright band that moves right."""
    band = frame * WIDTH // FRAMES
    return [[235] * WIDTH if y >= _SNOW_FROM else [225 if band <= x < band + 12 else 170 - y for x in range(WIDTH)]
            for y in range(HEIGHT)]


def _slice(frame: int) -> bytes:
    luma = _picture(frame)
    b = _Bits()
    b.ue(0)  # first_mb_in_slice
    b.ue(7)  # slice_type: I, every slice of the picture
    b.ue(0)  # pic_parameter_set_id
    b.u(4, 0)  # frame_num
    b.ue(frame % 2)  # idr_pic_id: differs between consecutive IDR pictures
    b.u(1, 0)  # no_output_of_prior_pics_flag
    b.u(1, 0)  # long_term_reference_flag
    b.se(0)  # slice_qp_delta
    for my in range(HEIGHT // 16):
        for mx in range(WIDTH // 16):
            b.ue(25)  # mb_type I_PCM
            b.align_zero()
            for y in range(16):
                b.raw(bytes(luma[my * 16 + y][mx * 16:mx * 16 + 16]))
            cb, cr = (128, 128) if my * 16 >= _SNOW_FROM else (150, 100)  # white snow, a blue sky
            b.raw(bytes([cb]) * 64 + bytes([cr]) * 64)
    return _nal(5, b.trailing())


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _moov(sps: bytes, pps: bytes, sizes: list[int], data_offset: int) -> bytes:
    delta = _TIMESCALE // FPS
    duration = delta * len(sizes)
    avcc = _box(b"avcC", bytes([1, _PROFILE, _COMPATIBILITY, _LEVEL, 0xFF, 0xE1]), struct.pack(">H", len(sps)), sps,
                bytes([1]), struct.pack(">H", len(pps)), pps)
    avc1 = _box(b"avc1", bytes(6), struct.pack(">H", 1), bytes(16), struct.pack(">HH", WIDTH, HEIGHT),
                struct.pack(">IIIH", 0x480000, 0x480000, 0, 1), bytes(32), struct.pack(">Hh", 0x18, -1), avcc)
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
        _full_box(b"stts", 0, 0, struct.pack(">III", 1, len(sizes), delta)),
        _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(sizes), 1)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(sizes)), b"".join(struct.pack(">I", s) for s in sizes)),
        _full_box(b"stco", 0, 0, struct.pack(">II", 1, data_offset)),
    )
    minf = _box(b"minf", _full_box(b"vmhd", 0, 1, bytes(8)),
                _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))), stbl)
    mdia = _box(b"mdia", _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, _TIMESCALE, duration, 0x55C4, 0)),
                _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00"), minf)
    tkhd = _full_box(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, duration), bytes(8),
                     struct.pack(">hhhH", 0, 0, 0, 0), _MATRIX, struct.pack(">II", WIDTH << 16, HEIGHT << 16))
    mvhd = _full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, _TIMESCALE, duration),
                     struct.pack(">IH", 0x10000, 0x100), bytes(10), _MATRIX, bytes(24), struct.pack(">I", 2))
    return _box(b"moov", mvhd, _box(b"trak", tkhd, mdia))


def teaser_mp4() -> bytes:
    """Two seconds of a winter scene, 128×80, H.264 Baseline in MP4, about 160 KB."""
    sps, pps = _sps(), _pps()
    samples = [struct.pack(">I", len(nal)) + nal for nal in (_slice(f) for f in range(FRAMES))]
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41")
    sizes = [len(s) for s in samples]
    moov_size = len(_moov(sps, pps, sizes, 0))
    moov = _moov(sps, pps, sizes, len(ftyp) + moov_size + 8)
    return ftyp + moov + _box(b"mdat", *samples)
