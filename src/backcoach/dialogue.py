"""The conversation: replies from the skill's content, follow-ups, guided stretches, red flags first."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from .intents import FALLBACK, RED_FLAG, Skill, Stretch
from .nlu import IntentResult

RATE_DEFAULT = 165
RATE_STEP = 25
RATE_MIN = 90
RATE_MAX = 260


@dataclass
class Segment:
    """One thing to say, then optionally a timed hold (the live loop counts it down aloud)."""

    text: str
    hold: float = 0.0


@dataclass
class Reply:
    """What the assistant answers to one turn."""

    intent: str
    segments: list[Segment] = field(default_factory=list)
    rate: int = RATE_DEFAULT
    """Speaking rate in words per minute (SpeakSlower / SpeakFaster change it for the session)."""
    end_session: bool = False
    in_routine: bool = False
    """A guided stretch is under way: after a hold the loop asks `Dialogue.advance` for more."""

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


@dataclass
class Topic:
    """The answer being given: its levels of detail and how far we are."""

    intent: str
    levels: list[str]
    index: int = 0
    next_topic: str | None = None


@dataclass
class Routine:
    """A guided stretch under way: its steps flattened, and where we are."""

    stretch: Stretch
    steps: list[list[Segment]]
    index: int = 0
    paused: bool = False


class Dialogue:
    """One conversation's state. `respond` takes what was understood and returns the reply."""

    def __init__(self, skill: Skill) -> None:
        self.skill = skill
        self.rate = RATE_DEFAULT
        self.topic: Topic | None = None
        self.routine: Routine | None = None
        self.last: Reply | None = None
        self.disclaimer_given = False
        self._rotation: dict[str, itertools.cycle] = {}

    # -- lines of content -------------------------------------------------------------------
    def line(self, key: str, **values: Any) -> str:
        """One of the skill's own lines (system.yaml), lists taken in turn, values filled in."""
        raw = self.skill.system.get(key)
        if isinstance(raw, list):
            if key not in self._rotation:
                self._rotation[key] = itertools.cycle(raw)
            raw = next(self._rotation[key]) if raw else ""
        if raw is None:
            raw = key.replace("_", " ")
        return _fill(str(raw), values)

    def _content(self, intent: str, slots: dict[str, Any]) -> tuple[list[str], str | None]:
        entry = self.skill.responses.get(intent)
        if not isinstance(entry, dict):
            return [], None
        chosen = entry
        for slot_name, by_value in (entry.get("slots") or {}).items():
            value = slots.get(slot_name)
            if value is not None and isinstance(by_value, dict) and str(value) in by_value:
                chosen = by_value[str(value)]
                break
        levels = [str(chosen.get("say", entry.get("say", "")))]
        levels += [str(x) for x in (chosen.get("more") or [])]
        levels = [_fill(text, slots) for text in levels if text.strip()]
        return levels, entry.get("next_topic")

    # -- turns ----------------------------------------------------------------------------------
    def respond(self, result: IntentResult) -> Reply:
        """The reply to one understood utterance. A red flag always wins."""
        intent = result.intent
        if result.red_flag or intent == RED_FLAG:
            return self._remember(self._red_flag(result))
        handler = {
            "Help": self._help, "Repeat": self._repeat, "More": self._more, "Next": self._next,
            "Previous": self._previous, "Stop": self._stop, "SpeakSlower": self._slower,
            "SpeakFaster": self._faster, "Pause": self._pause, "Resume": self._resume,
            "GuidedStretch": self._guided, FALLBACK: self._fallback,
        }.get(intent)
        reply = handler(result) if handler else self._answer(result)
        if intent not in ("Repeat",):
            self._remember(reply)
        return reply

    def advance(self) -> Reply:
        """The next step of the guided stretch (after a hold, or when the person says next)."""
        if self.routine is None:
            return self._reply("Next", [self.line("not_in_routine")])
        self.routine.index += 1
        return self._remember(self._routine_step())

    def hold_cues(self, seconds: float) -> list[tuple[float, str]]:
        """What to say during a hold, and when (seconds after it starts): halfway, then release."""
        cues: list[tuple[float, str]] = []
        if seconds >= 10:
            remaining = int(round(seconds / 2 / 5.0) * 5) or 5
            cues.append((seconds - remaining, self.line("hold_remaining", seconds=remaining)))
        cues.append((seconds, self.line("release")))
        return cues

    # -- handlers ------------------------------------------------------------------------------
    def _reply(self, intent: str, texts: list[str], **kw: Any) -> Reply:
        return Reply(intent=intent, segments=[Segment(t) for t in texts if t], rate=self.rate, **kw)

    def _remember(self, reply: Reply) -> Reply:
        self.last = reply
        return reply

    def _with_disclaimer(self, texts: list[str]) -> list[str]:
        if self.disclaimer_given:
            return texts
        self.disclaimer_given = True
        return [self.line("disclaimer")] + texts

    def _answer(self, result: IntentResult) -> Reply:
        levels, next_topic = self._content(result.intent, result.slots)
        if not levels:  # an intents directory without responses: name what was understood
            slots = ", ".join(f"{k} {v}" for k, v in result.slots.items())
            return self._reply(result.intent, [f"{result.intent}{': ' + slots if slots else ''}."])
        self.topic = Topic(result.intent, levels, 0, next_topic)
        return self._reply(result.intent, self._with_disclaimer([levels[0]]))

    def _red_flag(self, result: IntentResult) -> Reply:
        texts = []
        if self.routine is not None:
            texts.append(self.line("red_flag_interrupt"))
            self.routine = None
        levels, _ = self._content(RED_FLAG, result.slots)
        texts += levels[:1] or [self.line("red_flag_interrupt")]
        self.topic = Topic(RED_FLAG, levels or texts, 0, None)
        self.disclaimer_given = True
        return self._reply(RED_FLAG, texts)

    def _help(self, result: IntentResult) -> Reply:
        return self._reply("Help", [self.line("help")])

    def _repeat(self, result: IntentResult) -> Reply:
        if self.last is None:
            return self._reply("Repeat", [self.line("nothing_to_repeat")])
        return Reply(intent="Repeat", segments=list(self.last.segments), rate=self.rate,
                     in_routine=self.last.in_routine)

    def _more(self, result: IntentResult) -> Reply:
        if self.routine is not None:
            return self.advance()
        topic = self.topic
        if topic is None or topic.index + 1 >= len(topic.levels):
            return self._reply("More", [self.line("no_more")])
        topic.index += 1
        return self._reply("More", [topic.levels[topic.index]])

    def _next(self, result: IntentResult) -> Reply:
        if self.routine is not None:
            return self.advance()
        topic = self.topic
        if topic is not None and topic.index + 1 < len(topic.levels):
            topic.index += 1
            return self._reply("Next", [topic.levels[topic.index]])
        if topic is not None and topic.next_topic:
            levels, nxt = self._content(topic.next_topic, {})
            if levels:
                self.topic = Topic(topic.next_topic, levels, 0, nxt)
                return self._reply("Next", [levels[0]])
        return self._reply("Next", [self.line("no_more")])

    def _previous(self, result: IntentResult) -> Reply:
        if self.routine is not None:
            if self.routine.index == 0:
                return self._reply("Previous", [self.line("no_previous")], in_routine=True)
            self.routine.index -= 1
            return self._routine_step()
        topic = self.topic
        if topic is None or topic.index == 0:
            return self._reply("Previous", [self.line("no_previous")])
        topic.index -= 1
        return self._reply("Previous", [topic.levels[topic.index]])

    def _stop(self, result: IntentResult) -> Reply:
        if self.routine is not None:
            self.routine = None
            return self._reply("Stop", [self.line("stop")])
        return self._reply("Stop", [self.line("goodbye")], end_session=True)

    def _slower(self, result: IntentResult) -> Reply:
        if self.rate <= RATE_MIN:
            return self._reply("SpeakSlower", [self.line("slowest")])
        self.rate = max(RATE_MIN, self.rate - RATE_STEP)
        return self._reply("SpeakSlower", [self.line("slower")])

    def _faster(self, result: IntentResult) -> Reply:
        if self.rate >= RATE_MAX:
            return self._reply("SpeakFaster", [self.line("fastest")])
        self.rate = min(RATE_MAX, self.rate + RATE_STEP)
        return self._reply("SpeakFaster", [self.line("faster")])

    def _pause(self, result: IntentResult) -> Reply:
        if self.routine is None:
            return self._reply("Pause", [self.line("not_in_routine")])
        self.routine.paused = True
        return self._reply("Pause", [self.line("paused")], in_routine=True)

    def _resume(self, result: IntentResult) -> Reply:
        if self.routine is None:
            if self.topic is not None:  # "continue" after an answer: go on with it
                return self._next(result)
            return self._reply("Resume", [self.line("not_in_routine")])
        if not self.routine.paused:
            return self._reply("Resume", [self.line("not_paused")], in_routine=True)
        self.routine.paused = False
        step = self._routine_step()
        step.segments.insert(0, Segment(self.line("resumed")))
        step.intent = "Resume"
        return step

    def _fallback(self, result: IntentResult) -> Reply:
        key = "out_of_domain" if result.out_of_domain else "fallback"
        return self._reply(FALLBACK, [self.line(key)], in_routine=self.routine is not None)

    def _guided(self, result: IntentResult) -> Reply:
        key = result.slots.get("stretch")
        stretch = self.skill.stretches.get(str(key)) if key is not None else None
        if stretch is None:
            area = result.slots.get("area")
            stretch = next((s for s in self.skill.stretches.values() if area and s.area == area), None)
        if stretch is None:
            return self._reply("GuidedStretch", self._with_disclaimer([self.line("stretch_menu")]))
        self.routine = Routine(stretch, self._routine_steps(stretch))
        self.topic = None
        reply = self._routine_step()
        reply.intent = "GuidedStretch"
        reply.segments = [Segment(t) for t in self._with_disclaimer([])] + reply.segments
        return reply

    # -- guided stretches ----------------------------------------------------------------------
    def _routine_steps(self, stretch: Stretch) -> list[list[Segment]]:
        steps: list[list[Segment]] = []
        opening = [self.line("routine_start", name=stretch.name), stretch.intro, stretch.safety]
        reps = max(1, stretch.repetitions)
        sides = stretch.sides or [None]
        for rep in range(1, reps + 1):
            for side in sides:
                lead: list[str] = []
                if rep == 1 and side == sides[0]:
                    lead += opening
                elif side == sides[0]:
                    lead.append(self.line("next_repetition", n=rep, total=reps))
                if side is not None:
                    lead.append(self.line("switch_side", side=side))
                for k, step in enumerate(stretch.steps):
                    text = _fill(str(step["say"]), {"side": side or ""})
                    hold = float(step.get("hold", 0) or 0)
                    segs = [Segment(t) for t in (lead if k == 0 else []) if t]
                    if hold:
                        segs.append(Segment(text))
                        segs.append(Segment(self.line("hold_start", seconds=int(hold)), hold=hold))
                    else:
                        segs.append(Segment(text))
                    steps.append(segs)
        steps.append([Segment(self.line("routine_done", name=stretch.name))])
        return steps

    def _routine_step(self) -> Reply:
        routine = self.routine
        assert routine is not None
        index = min(routine.index, len(routine.steps) - 1)
        segments = list(routine.steps[index])
        done = index == len(routine.steps) - 1
        if done:
            self.routine = None
        return Reply(intent="GuidedStretch", segments=segments, rate=self.rate, in_routine=not done)


def _fill(text: str, values: dict[str, Any]) -> str:
    """Fill {name} placeholders that have values; leave the rest of the text alone."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text
