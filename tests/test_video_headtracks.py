"""Head tracks inside filters: boxes keep their identity from frame to frame, old tracks are forgotten."""

from __future__ import annotations

from avanon.video.headtracks import HeadTracks


def test_two_heads_keep_their_tracks_while_moving() -> None:
    tracks = HeadTracks(match_iou=0.2, max_age=2)
    first = tracks.update([(10.0, 10.0, 50.0, 50.0), (200.0, 10.0, 240.0, 50.0)], 0)
    ids = [t.ident for t in first]
    assert ids == [0, 1]
    # the boxes arrive in the other order and have moved a little: identities follow the boxes
    second = tracks.update([(205.0, 12.0, 245.0, 52.0), (14.0, 11.0, 54.0, 51.0)], 1)
    assert [t.ident for t in second] == [1, 0]
    assert second[0].box == (205.0, 12.0, 245.0, 52.0) and second[0].first == 0 and second[0].last == 1


def test_centre_distance_links_a_box_that_changed_size() -> None:
    tracks = HeadTracks(match_iou=0.9)
    (a,) = tracks.update([(100.0, 100.0, 140.0, 140.0)], 0)
    (b,) = tracks.update([(95.0, 95.0, 150.0, 150.0)], 1)  # IoU below 0.9, centres 2.5 px apart
    assert b.ident == a.ident


def test_unmatched_boxes_start_tracks_and_old_tracks_expire() -> None:
    tracks = HeadTracks(max_age=2)
    tracks.update([(0.0, 0.0, 10.0, 10.0)], 0)
    (far,) = tracks.update([(100.0, 100.0, 110.0, 110.0)], 1)
    assert far.ident == 1 and len(tracks.tracks) == 2
    tracks.update([], 3)
    assert [t.ident for t in tracks.tracks] == [1]  # track 0 unseen for 3 frames is gone
    assert tracks.update([], 4) == [] and tracks.tracks == []
    (again,) = tracks.update([(0.0, 0.0, 10.0, 10.0)], 5)
    assert again.ident == 2  # a new person, not the forgotten one
