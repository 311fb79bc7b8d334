"""Reading a caption or prompt back into `SceneFacts`.

Two passes. The lexer matches the longest known phrase at each word ("dark
green", "does not move", "at high speed") and sorts every word into a kind;
a word that is neither a known phrase nor filler is an error that quotes it.
Between the two, a word standing where the world expects one of its own but
holding something else ("a white background": white is no background; "a
purple ball"; "a hexagon") is taken out, with a notice naming the word and
the choices (`parse_caption_with_notices`, `prompt_notices`), instead of
being read as something else. The reader then walks the kinds left to right
like a small grammar:

- size, colour (and speed or motion right before a noun) wait for the next noun;
- a noun (ball, boxes, shapes) makes one object per number or per listed colour;
  an object whose colour was already named is the same object again (colours are
  unique in a scene), so "the red ball leaves a trail" adds nothing new;
- a motion or speed after a noun belongs to that noun's object(s); the first
  motion said of an object is its motion ("moves left and bounces off the wall");
- after "camera" / "pans" a direction is the pan and "still" / "static" a fixed
  camera, until the clause ends;
- "paint" / "trail" names the nearest coloured object of its sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from patchflow.world.palette import BACKGROUND_COLORS, OBJECT_COLORS
from patchflow.world.scene import ObjectFacts, SceneFacts


class CaptionParseError(ValueError):
    """A text with words outside the world's vocabulary; the message quotes them."""


def _phrases(kind: str, table: dict[str, str]) -> dict[tuple[str, ...], tuple[str, object]]:
    return {tuple(words.split()): (kind, value) for words, value in table.items()}


SHAPES = {"ball": "circle", "circle": "circle", "disc": "circle", "disk": "circle", "dot": "circle",
          "square": "square", "box": "square", "block": "square", "cube": "square", "triangle": "triangle"}
PLURAL_SHAPES = {"balls": "circle", "circles": "circle", "discs": "circle", "disks": "circle", "dots": "circle",
                 "squares": "square", "boxes": "square", "blocks": "square", "cubes": "square",
                 "triangles": "triangle"}
NUMBERS = {"one": 1, "single": 1, "two": 2, "pair of": 2, "three": 3, "four": 4, "five": 5}
SPEEDS = {"slow": "slow", "slowly": "slow", "gently": "slow", "leisurely": "slow", "at a slow pace": "slow",
          "at a leisurely pace": "slow", "fast": "fast", "quick": "fast", "quickly": "fast", "rapidly": "fast",
          "swiftly": "fast", "speedy": "fast", "at high speed": "fast", "at a fast pace": "fast",
          "at speed": "fast"}
MOTIONS = {
    "still": "still", "rests": "still", "resting": "still", "rest": "still", "at rest": "still",
    "stays put": "still", "motionless": "still", "stationary": "still", "static": "still", "fixed": "still",
    "steady": "still", "does not move": "still", "doesn t move": "still", "not moving": "still",
    "never moves": "still",
    "bounces": "bounce", "bounce": "bounce", "bouncing": "bounce", "bouncy": "bounce", "ricochets": "bounce",
    "falls": "fall", "fall": "fall", "falling": "fall", "drops": "fall", "drop": "fall", "dropping": "fall",
    "falls down": "fall", "drops down": "fall", "falls and bounces": "fall", "drops and bounces": "fall",
    "falling and bouncing": "fall", "dropping and bouncing": "fall",
}
DIRECTIONS = {"left": "left", "leftward": "left", "leftwards": "left", "right": "right", "rightward": "right",
              "rightwards": "right", "up": "up", "upward": "up", "upwards": "up", "down": "down",
              "downward": "down", "downwards": "down"}
# Said of an axis motion, not a motion of its own.
DECOR = {"bounces off the wall": "", "bounces off the edge": "", "bounces back": "", "bouncing back": "",
         "turns back": "", "turning back": ""}
CUES = {"pillar": "pillar", "pillars": "pillar", "column": "pillar", "occluder": "pillar", "post": "pillar",
        "no pillar": "no_pillar", "without a pillar": "no_pillar", "without pillar": "no_pillar",
        "paint": "paint", "paints": "paint", "painting": "paint", "painted": "paint", "trail": "paint",
        "trails": "paint",
        "camera": "camera", "view": "camera", "shot": "camera", "pan": "camera", "pans": "camera",
        "panning": "camera", "panned": "camera",
        "static camera": "static", "fixed camera": "static", "still camera": "static", "steady camera": "static",
        "pong": "pong", "paddle": "pong", "paddles": "pong"}
# Words that name the background itself: the colour next to them is a background colour.
BACKGROUND_NOUNS = {"background", "backdrop", "backgrounds"}
FILLER = set("""
a an the and or while whilst is are was be being been of with to it its itself in on at as by for from into onto
over under there here this that which whatever who they them their each other another all everything around
across about along through between off back against set scene video clip frame picture image
color colored coloured wall walls edge edges side sides floor ground bottom top then meanwhile also too just very
where when so but whole way path toward towards upon inside within
moves move moving slides slide sliding drifts drift drifting glides glide gliding travels travel travelling
traveling heads head heading goes go going rolls roll rolling stays stay staying sits sit sitting stands stand
standing remains remain remaining happens happen happening leaves leave leaving follows follow following
passes pass passing hides hide hiding plays play playing returns return returning shows show showing has have
having game diagonally foreground front behind hidden seen visible hit hits hitting speed pace both collide collides colliding meet meets
""".split())

LEXICON: dict[tuple[str, ...], tuple[str, object]] = {
    **_phrases("color", {c: c for c in OBJECT_COLORS}),
    **_phrases("background", {c: c for c in BACKGROUND_COLORS}),
    **_phrases("size", {"small": "small", "little": "small", "tiny": "small", "large": "large", "big": "large",
                        "huge": "large"}),
    **{(w,): ("shape", (s, False)) for w, s in SHAPES.items()},
    **{(w,): ("shape", (s, True)) for w, s in PLURAL_SHAPES.items()},
    **{(w,): ("shape", (None, False)) for w in ("object", "shape", "thing")},
    **{(w,): ("shape", (None, True)) for w in ("objects", "shapes", "things")},
    **_phrases("number", NUMBERS), **{(str(n),): ("number", n) for n in range(1, 10)},
    **_phrases("speed", SPEEDS), **_phrases("motion", MOTIONS), **_phrases("motion", DIRECTIONS),
    **_phrases("decor", DECOR), **_phrases("cue", CUES),
}
LONGEST = max(len(k) for k in LEXICON)
BOUNDARIES = {".", ";", ":", "!", "?", ","}
SENTENCE_ENDS = {".", ";", "!", "?"}
NOUN_KINDS = {"size", "color", "shape"}  # a speed or motion right before one of these is an adjective


def _items(text: str) -> list[tuple[str, object, str]]:
    """Text -> [(kind, value, words)] for every word or phrase, filler and unknown words included."""
    words = re.findall(r"[a-z]+|\d+|[.,;:!?]", text.lower().replace("grey", "gray"))
    items, i = [], 0
    while i < len(words):
        for n in range(min(LONGEST, len(words) - i), 0, -1):
            hit = LEXICON.get(tuple(words[i:i + n]))
            if hit:
                items.append((*hit, " ".join(words[i:i + n])))
                i += n
                break
        else:
            word = words[i]
            if word in BOUNDARIES:
                items.append(("boundary", word, word))
            elif word in ("the", "a", "an"):
                items.append(("article", word, word))
            elif word in BACKGROUND_NOUNS:
                items.append(("background_noun", word, word))
            elif word in FILLER:
                items.append(("filler", word, word))
            else:
                items.append(("unknown", word, word))
            i += 1
    return items


def _neighbour(items: list, i: int, step: int, skip) -> tuple[str, object, str]:
    """The nearest item before (step -1) or after (step 1) item i that `skip(item)` does not pass over."""
    j = i + step
    while 0 <= j < len(items) and skip(items[j]):
        j += step
    return items[j] if 0 <= j < len(items) else ("end", None, "")


def _filler(item) -> bool:
    return item[0] == "filler"


def _slot(items: list, i: int) -> str | None:
    """What the text asks for at item i when the word there is not what the world has: "background", "colour",
    "shape" or None (an unknown word in no slot, or a known word used as what it is)."""
    kind, _, word = items[i]
    after = _neighbour(items, i, 1, _filler)
    before = _neighbour(items, i, -1, _filler)
    said_of = _neighbour(items, i, -1, lambda item: item[2] in ("is", "was", "a", "an", "the"))  # "background is"
    if kind == "unknown" or (kind == "color" and word not in BACKGROUND_COLORS):
        if after[0] == "background_noun" or said_of[0] == "background_noun":  # "a white background", "it is white"
            return "background"
        on = _neighbour(items, i, -1, lambda item: item[0] == "article")[2] in ("on", "against")
        if kind == "color" and on and after[0] not in NOUN_KINDS:  # "a ball on white"
            return "background"
    if kind in ("unknown", "background") and after[0] == "shape":  # "a purple ball", "a navy box"
        return "colour"
    if kind == "unknown" and before[0] in ("article", "number", "size", "color"):  # "a hexagon", "two red stars"
        return "shape"
    return None


def _notice(slot: str, kind: str, word: str, noun: str) -> str:
    if slot == "background":
        return (f"'{word}' is not one of the world's backgrounds ({', '.join(BACKGROUND_COLORS)}); "
                "the background is left open")
    if slot == "colour":
        what = "a background colour, not an object's" if kind == "background" else "not a colour of the world"
        return f"'{word}' is {what} (colours: {', '.join(OBJECT_COLORS)}); the {noun}'s colour is left open"
    return (f"'{word}' is not a shape of the world (shapes: ball/circle/disc, square/box/block, triangle); "
            "the shape is left open")


def _unknown_error(words: list[str], text: str) -> CaptionParseError:
    quoted = ", ".join(f"'{w}'" for w in dict.fromkeys(words))
    return CaptionParseError(f"cannot understand {quoted} in {text!r}; the world knows colours "
                             f"{', '.join(OBJECT_COLORS)}, backgrounds {', '.join(BACKGROUND_COLORS)}, shapes "
                             "ball/circle/disc, square/box/block, triangle, and the motions of shared/WORLD.md")


def _analyse(text: str) -> tuple[list[tuple[str, object]], list[str], list[str], list[str]]:
    """(tokens for the reader, notices, unknown words in no slot, every unknown word).

    A word in a slot that the world cannot fill is left out of the tokens ("a white background": no
    background; "a purple ball": a ball of open colour), except an unknown noun, which stands for a noun of
    open shape ("a red hexagon": a red object of any shape); each gets a notice.
    """
    items = _items(text)
    tokens, notices, unplaced, unknown = [], [], [], []
    for i, (kind, value, word) in enumerate(items):
        slot = _slot(items, i)
        if kind == "unknown":
            unknown.append(word)
            if slot is None:
                unplaced.append(word)
        if slot is not None:
            notices.append(_notice(slot, kind, word, _neighbour(items, i, 1, _filler)[2]))
            if slot == "shape":
                tokens.append(("shape", (None, word.endswith("s"))))
        elif kind not in ("filler", "unknown", "background_noun"):
            tokens.append((kind, value))
    return tokens, list(dict.fromkeys(notices)), unplaced, unknown


def lex(text: str) -> list[tuple[str, object]]:
    """Text -> [(kind, value)]: phrases, boundaries and articles; raise on words not understood."""
    tokens, _, _, unknown = _analyse(text)
    if unknown:
        raise _unknown_error(unknown, text)
    return tokens


@dataclass
class Reader:
    """The state of the left-to-right walk over the tokens."""

    objects: list[dict] = field(default_factory=list)
    subject: list[int] = field(default_factory=list)  # the object(s) the clause is about
    pending: dict = field(default_factory=dict)  # adjectives waiting for their noun
    definite: bool = False  # "the ball": refers back to a ball already named
    camera: bool = False  # inside a clause about the camera
    background: str | None = None
    pillar: bool | None = None
    pan: str | None = None
    pong: bool = False
    numbered: bool = False
    total: int | None = None  # "three objects"
    about_all: dict | None = None  # what is said of "three objects": applies to each of them
    mentions: list = field(default_factory=list)  # (token index, sentence, colour)
    paint_cues: list = field(default_factory=list)  # (token index, sentence)

    def set_on_subject(self, key: str, value: str) -> None:
        if self.about_all is not None:
            self.about_all.setdefault(key, value)
        for k in self.subject:
            if self.objects[k][key] is None:  # the first thing said of an object wins
                self.objects[k][key] = value

    def noun(self, shape: str | None, plural: bool, position: int, sentence: int) -> None:
        p, self.pending = self.pending, {}
        colors = p.get("colors", [])
        if shape is None and not colors and not {"size", "speed", "motion"} & p.keys():
            if p.get("number"):  # "three objects": a count, no object described
                self.total = p["number"]
                self.about_all = {}
            self.subject, self.definite = [], False
            return
        self.about_all = None
        count = p.get("number") or max(1, len(colors))
        self.numbered |= "number" in p
        group = []
        for j in range(count):
            facts = {"color": colors[j] if j < len(colors) else None, "shape": shape, "size": p.get("size"),
                     "motion": p.get("motion"), "speed": p.get("speed")}
            k = self.find_same(facts, plural)
            if k is None:
                self.objects.append(facts)
                k = len(self.objects) - 1
            else:
                for key, value in facts.items():
                    self.objects[k][key] = self.objects[k][key] or value
            group.append(k)
            if self.objects[k]["color"]:  # "the ball" may name a ball whose colour was said before
                self.mentions.append((position, sentence, self.objects[k]["color"]))
        self.subject, self.definite, self.camera = group, False, False

    def find_same(self, facts: dict, plural: bool) -> int | None:
        """An object named again: same colour, or "the <shape>" for the last one of that shape."""
        for k, o in enumerate(self.objects):
            if facts["color"] and o["color"] == facts["color"]:
                return k
        if self.definite and not plural and not facts["color"]:
            for k in reversed(range(len(self.objects))):
                if self.objects[k]["shape"] == facts["shape"]:
                    return k
        return None


@dataclass(frozen=True)
class ParseResult:
    facts: SceneFacts
    notices: tuple[str, ...]  # one line per word the world could not take where it stood, naming the choices
    outside: tuple[str, ...]  # those of the notices about words outside the vocabulary ("purple", not "white")


def parse_caption(text: str) -> SceneFacts:
    """Any caption or prompt of the world (captions.py, or a person's words) -> the facts it states.

    Strict: a word outside the vocabulary is a CaptionParseError quoting it (what the oracle wants: it must
    not judge a video against a caption it read only half of). A known word in the wrong slot ("a white
    background") is left out; `parse_caption_with_notices` says so.
    """
    return read(lex(text))


def parse_caption_with_notices(text: str) -> ParseResult:
    """The facts, and a notice for each word in a slot the world cannot fill: a colour or an unknown word as
    the background, an unknown word or a background as an object's colour, an unknown noun as a shape. The
    caller prints them (`patchflow world render`). Unknown words in no such slot still raise CaptionParseError."""
    tokens, notices, unplaced, unknown = _analyse(text)
    if unplaced:
        raise _unknown_error(unplaced, text)
    outside = tuple(n for n in notices if any(n.startswith(f"'{w}' ") for w in unknown))
    return ParseResult(read(tokens), tuple(notices), outside)


def prompt_notices(text: str) -> list[str]:
    """Lines to print before generating from a prompt: what of it the world's vocabulary does not hold.

    Never raises (a model takes any text): the slot notices of `parse_caption_with_notices`, then one line
    for the unknown words in no slot."""
    _, notices, unplaced, _ = _analyse(text)
    if unplaced:
        quoted = ", ".join(f"'{w}'" for w in dict.fromkeys(unplaced))
        notices.append(f"{quoted} {'is' if len(set(unplaced)) == 1 else 'are'} not in the world's vocabulary "
                       "(shared/WORLD.md): a model trained on the world has never seen it")
    return notices


def read(tokens: list[tuple[str, object]]) -> SceneFacts:
    """The facts a token stream states (the reader's walk; see the module docstring)."""
    r = Reader()
    sentence = 0
    for i, (kind, value) in enumerate(tokens):
        following = tokens[i + 1][0] if i + 1 < len(tokens) else None
        if kind == "boundary":
            r.camera = False
            sentence += value in SENTENCE_ENDS
            r.definite = False
        elif kind == "article":
            r.definite = value == "the"
        elif kind == "number":
            r.pending["number"] = value
        elif kind == "size":
            r.pending["size"] = value
        elif kind == "color":
            r.pending.setdefault("colors", []).append(value)
        elif kind == "background":
            r.background = r.background or value
        elif kind == "shape":
            r.noun(*value, position=i, sentence=sentence)
        elif kind in ("speed", "motion"):
            if kind == "motion" and r.camera:
                if value in ("left", "right"):
                    r.pan = value
                elif value == "still":
                    r.pan = "static"
            elif following in NOUN_KINDS or not (r.subject or r.about_all is not None):
                r.pending.setdefault(kind, value)
            else:
                r.set_on_subject(kind, value)
        elif kind == "cue":
            if value in ("pillar", "no_pillar"):
                r.pillar = value == "pillar"
            elif value == "paint":
                r.paint_cues.append((i, sentence))
            elif value == "camera":
                r.camera = True
            elif value == "static":
                r.pan = "static"
            elif value == "pong":
                r.pong = True
                r.pending = {}
    return finish(r)


def finish(r: Reader) -> SceneFacts:
    if r.pong:
        return SceneFacts(background=r.background, pillar=r.pillar, pan=r.pan, pong=True)
    paint = None
    for position, sentence in r.paint_cues:
        near = [(abs(position - p), color) for p, s, color in r.mentions if s == sentence]
        if near:
            paint = min(near)[1]
    count = r.total if r.total is not None else (len(r.objects) if r.numbered else None)
    objects = [ObjectFacts(**o) for o in r.objects]
    if r.total is not None:  # "three shapes bounce": three objects, each bouncing
        objects += [ObjectFacts()] * (r.total - len(objects))
        said = r.about_all or {}
        objects = [ObjectFacts(**{k: v if v is not None else said.get(k) for k, v in o.__dict__.items()})
                   for o in objects]
    return SceneFacts(objects=tuple(objects), background=r.background, pillar=r.pillar, paint=paint, pan=r.pan,
                      pong=None, count=count)


__all__ = ["parse_caption", "parse_caption_with_notices", "prompt_notices", "ParseResult", "CaptionParseError",
           "lex"]
