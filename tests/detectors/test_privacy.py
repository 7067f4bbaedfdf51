"""Faces and plates are blurred before a snapshot exists: scikit-image's astronaut photo."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from detectors.privacy import (
    ALL_FACE_CASCADES,
    PrivacyPolicy,
    anonymise,
    blur_regions,
    cascade_boxes,
    find_faces,
    grow,
    object_regions,
)

#: Labelled by hand on skimage.data.astronaut() (512 x 512): brow to chin, ear to ear.
FACES = [(172, 58, 282, 170)]


def _astronaut() -> npt.NDArray[np.uint8]:
    data = pytest.importorskip("skimage.data")
    rgb = data.astronaut()
    return np.ascontiguousarray(rgb[:, :, ::-1])  # OpenCV's BGR


def _any_face(image: npt.NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
    """Faces found centred on a labelled face, by every face cascade OpenCV ships at a
    finer scale step than the box uses (elsewhere that finer search finds the suit's
    patches and the shuttle, in the original too)."""
    found = cascade_boxes(image, ALL_FACE_CASCADES, scale_factor=1.05, min_neighbors=3)
    return [f for f in found if any(_centred_in(f, face) for face in FACES)]


def _centred_in(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]


def _sharpness(image: npt.NDArray[np.uint8], box: tuple[int, int, int, int]) -> float:
    import cv2

    x1, y1, x2, y2 = box
    gray = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def _enlarged_mask(shape: tuple[int, ...], boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """True inside each box enlarged by 20 % (10 % of its size on every side)."""
    mask = np.zeros(shape[:2], bool)
    for box in boxes:
        grown = grow(box, 0.1, shape[1], shape[0])
        assert grown is not None
        x1, y1, x2, y2 = grown
        mask[y1:y2, x1:x2] = True
    return mask


def test_the_astronauts_face_is_unrecognisable_and_nothing_else_changes() -> None:
    image = _astronaut()
    assert find_faces(image) and _any_face(image), "the face must be found before blurring"
    out = anonymise(image, PrivacyPolicy())
    for box in FACES:
        before, after = _sharpness(image, box), _sharpness(out, box)
        assert after <= 0.1 * before, (box, before, after)
    outside = ~_enlarged_mask(image.shape, FACES)
    assert np.array_equal(out[outside], image[outside])
    assert find_faces(out) == [] and _any_face(out) == []


def test_a_person_box_blurs_its_head_even_when_no_cascade_fires() -> None:
    image = _astronaut()
    # The astronaut as a detector would box her: the head band is the top 30 %.
    person = (150.0, 30.0, 300.0, 470.0)
    regions = object_regions([person], ["person"], PrivacyPolicy())
    assert regions == [(150, 30, 300, 162)]
    out = blur_regions(image, regions)
    assert find_faces(out) == [] and _any_face(out) == []
    assert _sharpness(out, FACES[0]) <= 0.1 * _sharpness(image, FACES[0])
    # The suit below the head band is evidence and stays as it was.
    assert np.array_equal(out[200:, :], image[200:, :])


@pytest.mark.parametrize(
    ("cls", "policy", "expected"),
    [
        ("car", PrivacyPolicy(), [(0, 55, 100, 100)]),
        ("bus", PrivacyPolicy(plates=False), []),
        ("person", PrivacyPolicy(faces=False), []),
        ("dog", PrivacyPolicy(), []),
    ],
)
def test_which_part_of_an_object_box_is_blurred(
    cls: str, policy: PrivacyPolicy, expected: list[tuple[int, int, int, int]]
) -> None:
    assert object_regions([(0.0, 0.0, 100.0, 100.0)], [cls], policy) == expected


def test_with_blurring_switched_off_the_frame_is_kept() -> None:
    image = _astronaut()
    out = anonymise(image, PrivacyPolicy(faces=False, plates=False))
    assert np.array_equal(out, image)
