"""Synthetic turn-taking: a semi-Markov model of who is speaking, per recording.

The speaker segments of a recording are turned into a sequence of *states*, each the set of
speakers speaking at a moment (silence is the empty set, overlap a set of two or more), on a grid
of ``tick`` seconds. Consecutive equal states form runs. :class:`TurnSynthesizer` learns

* which state follows which (the embedded Markov chain: counts of transitions between different
  states), and
* how long each state lasts: a log-normal distribution per state with the real median and mean
  duration (:func:`_median_and_mean`; matching the mean keeps each state's share of time, and so
  the turn rate, when the durations are heavier-tailed than log-normal, as the pauses of a
  day-long recording are),

then samples runs from a state drawn by its share of time until the recording's duration is
filled, and turns them back into one segment per speaker and stretch of speech. Only these few
numbers per state are kept from the real recording; no real segment time is copied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from avanon.errors import IntegrityError
from avanon.registry import Interval, Method, Param
from avanon.synth.tables import TurnSession

State = tuple[str, ...]  # the speakers speaking, sorted; () is silence


@dataclass
class TurnModel:
    """States, their transition matrix, log-duration parameters and shares of time."""

    states: list[State]
    transitions: np.ndarray  # (states, states) row-stochastic, zero diagonal
    log_mean: np.ndarray  # (states,) [log s]
    log_std: np.ndarray  # (states,)
    occupancy: np.ndarray  # (states,) share of time


def runs(session: TurnSession, *, tick: float) -> list[tuple[State, float]]:
    """The recording as ``(state, duration [s])`` runs on a grid of ``tick`` seconds."""
    frames = int(math.ceil(session.duration / tick))
    speakers = session.speakers
    active = np.zeros((len(speakers), frames), dtype=bool)
    for start, end, speaker in session.segments:
        active[speakers.index(speaker), int(round(start / tick)) : max(int(round(end / tick)), int(round(start / tick)) + 1)] = True
    out: list[tuple[State, float]] = []
    previous: State | None = None
    for f in range(frames):
        state = tuple(s for k, s in enumerate(speakers) if active[k, f])
        if state == previous:
            out[-1] = (state, out[-1][1] + tick)
        else:
            out.append((state, tick))
            previous = state
    return out


class TurnSynthesizer(Method):
    """Semi-Markov model of speaker states with log-normal durations (see the module docstring)."""

    kind: ClassVar[str] = "synthesizer"
    name: ClassVar[str] = "semi-markov"
    params = {
        "tick": Param(0.01, Interval(float, 0.001, 0.5), "time grid of the speaker states [s]"),
    }

    def fit(self, session: TurnSession) -> TurnModel:
        sequence = runs(session, tick=self.tick)
        states = sorted({s for s, _ in sequence}, key=lambda s: (len(s), s))
        if not sequence:
            raise IntegrityError(f"{session.rel}: no speech to learn turn-taking from.")
        index = {s: i for i, s in enumerate(states)}
        counts = np.zeros((len(states), len(states)))
        for (a, _), (b, _) in zip(sequence[:-1], sequence[1:]):
            counts[index[a], index[b]] += 1
        logs: list[list[float]] = [[] for _ in states]
        for state, duration in sequence:
            logs[index[state]].append(math.log(duration))
        occupancy = np.array([sum(math.exp(v) for v in values) for values in logs])
        occupancy /= occupancy.sum()
        log_mean, log_std = _median_and_mean(logs)
        transitions = np.zeros_like(counts)
        for i in range(len(states)):
            if counts[i].sum() > 0:
                transitions[i] = counts[i] / counts[i].sum()
            else:  # the last state only: leave to any other state by its share of time
                other = occupancy.copy()
                other[i] = 0.0
                transitions[i] = other / other.sum() if other.sum() > 0 else 0.0
        return TurnModel(states, transitions, log_mean, log_std, occupancy)

    def sample(self, model: TurnModel, duration: float, rng: np.random.Generator) -> list[tuple[State, float]]:
        """Runs ``(state, duration [s])`` filling ``duration`` seconds."""
        out: list[tuple[State, float]] = []
        total = 0.0
        i = int(rng.choice(len(model.states), p=model.occupancy))
        while total < duration:
            length = max(self.tick, float(np.exp(model.log_mean[i] + model.log_std[i] * rng.standard_normal())))
            length = min(length, duration - total)
            out.append((model.states[i], length))
            total += length
            row = model.transitions[i]
            if row.sum() <= 0:  # a recording with one state only
                continue
            i = int(rng.choice(len(model.states), p=row / row.sum()))
        return out

    def synthesize(self, session: TurnSession, rng: np.random.Generator) -> TurnSession:
        """A synthetic recording of the same length, speakers and file id."""
        model = self.fit(session)
        sequence = self.sample(model, session.duration, rng)
        return TurnSession(session.rel, session.file_id, segments_of(sequence))


def _median_and_mean(logs: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Log-normal parameters ``(mu, sigma)`` per state with the real median and mean duration.

    ``mu`` is the log of the median duration and ``sigma = sqrt(2 log(mean / median))``, so that
    ``exp(mu + sigma**2 / 2)`` is the mean. Matching the mean keeps each state's share of time and
    so the turn rate; a fit to the mean and spread of the log durations does not when the
    durations are heavier-tailed than log-normal (a day-long recording's pauses: median 1.6 s,
    mean 12.9 s, log-normal mean 6.3 s; the synthetic day had 74 % more turns per minute). A state
    seen once gets the pooled ``sigma`` of the others (0.5 when there are none), its one duration
    as the mean.
    """
    mu, sigma = np.zeros(len(logs)), np.full(len(logs), np.nan)
    for i, values in enumerate(logs):
        durations = np.exp(values)
        if len(values) >= 2:
            median = float(np.median(durations))
            mu[i] = math.log(median)
            sigma[i] = math.sqrt(max(2.0 * math.log(float(np.mean(durations)) / median), 0.0))
    known = sigma[np.isfinite(sigma)]
    pooled = float(np.sqrt(np.mean(np.square(known)))) if known.size else 0.5
    for i, values in enumerate(logs):
        if len(values) < 2:
            sigma[i] = pooled
            mu[i] = values[0] - pooled**2 / 2.0
    return mu, sigma


def segments_of(sequence: list[tuple[State, float]]) -> list[tuple[float, float, str]]:
    """Per-speaker segments ``(start, end, speaker)`` of a run sequence (sorted by start)."""
    segments: list[tuple[float, float, str]] = []
    open_at: dict[str, float] = {}
    t = 0.0
    for state, length in sequence:
        for speaker in list(open_at):
            if speaker not in state:
                segments.append((open_at.pop(speaker), t, speaker))
        for speaker in state:
            open_at.setdefault(speaker, t)
        t += length
    segments += [(start, t, speaker) for speaker, start in open_at.items()]
    return sorted(segments)
