"""What a person sees on a page, measured in the browser: text drawn over other text, words
that are not theirs (raw dicts, model names, "None", "(s)"), controls the keyboard cannot reach
or use, and axe-core's accessibility violations. Used by test_every_tab.py."""

from __future__ import annotations

import os
import re
from pathlib import Path

# axe-core from npm (tests/web/package.json), installed by `make test` and `.ci/run`.
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
AXE_INSTALL = "npm ci --prefix tests/web"

MODEL_NAMES = ["SyncRun", "SyncSource", "StaffRole", "GuardianLink", "AdministratorRole"]
# Words that are the program's, not the reader's.
INTERNAL_WORDS = [
    (re.compile(r"\{\s*['\"][^'\"]+['\"]\s*:"), "a raw Python dict"),
    (re.compile(r"\[\s*\{"), "a raw list of dicts"),
    (
        re.compile(
            r"\b(SyncRun|SyncSource|StaffRole|GuardianLink|AdministratorRole|HistoryRecord)\b"
        ),
        "a model name",
    ),
    (re.compile(r"\b[A-Z]\w+ object\b"), 'a model\'s default name ("Account object")'),
    (re.compile(r"\bNone\b"), "Python's None"),
    (re.compile(r"\w\(s\)"), 'a lazy plural "(s)"'),
    (re.compile(r"\b[a-z]+_[a-z_]+\b"), "a field name with underscores"),
    (re.compile(r"Traceback|object at 0x"), "a traceback"),
    (re.compile(r"\b[Aa]ccount \d+\b"), "an account's id where its name belongs"),
]


def internal_words(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Each phrase of ``text`` that is the program's, not the reader's, with what it is."""
    found = []
    for line in text.splitlines():
        for pattern, what in INTERNAL_WORDS:
            for match in pattern.finditer(line):
                if any(a in line for a in allowed):
                    continue
                found.append(f"{what}: {match.group(0)!r} in {line.strip()[:120]!r}")
    return found


# Text boxes ----------------------------------------------------------------------------------
#
# Each visible text node's line boxes (Range.getClientRects), clipped by the boxes of the
# ancestors that clip (overflow other than visible, e.g. a scrolling table or a visually hidden
# label); two boxes of different text nodes that intersect by more than the tolerance on both
# axes are text drawn over text.

_TEXT_BOXES = """
(tolerance) => {
  const skip = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "OPTION", "TITLE", "HEAD"]);
  const boxes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let n = 0;
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    if (!text) continue;
    const parent = node.parentElement;
    if (!parent || parent.closest("script,style,noscript,template,select,option,title")) continue;
    if (skip.has(parent.tagName)) continue;
    // Not drawn: hidden, transparent, or in a closed <details> (content-visibility).
    if (!parent.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    // The clip of every ancestor that clips.
    let clip = {left: -Infinity, top: -Infinity, right: Infinity, bottom: Infinity};
    for (let el = parent; el && el !== document.documentElement; el = el.parentElement) {
      const s = getComputedStyle(el);
      const clips = s.overflowX !== "visible" || s.overflowY !== "visible"
        || (s.clip && s.clip !== "auto") || s.clipPath !== "none";
      if (!clips) continue;
      const r = el.getBoundingClientRect();
      clip = {left: Math.max(clip.left, r.left), top: Math.max(clip.top, r.top),
              right: Math.min(clip.right, r.right), bottom: Math.min(clip.bottom, r.bottom)};
      if (s.clip && s.clip !== "auto") clip = {left: 0, top: 0, right: 0, bottom: 0};
    }
    const range = document.createRange();
    range.selectNodeContents(node);
    n += 1;
    for (const r of range.getClientRects()) {
      const box = {left: Math.max(r.left, clip.left), top: Math.max(r.top, clip.top),
                   right: Math.min(r.right, clip.right), bottom: Math.min(r.bottom, clip.bottom)};
      if (box.right - box.left < 1 || box.bottom - box.top < 1) continue;
      if (box.right + scrollX <= 0 || box.bottom + scrollY <= 0) continue;  // off-page (skip link)
      boxes.push({node: n, text: text.slice(0, 60), ...box});
    }
  }
  boxes.sort((a, b) => a.top - b.top);
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) {
    const a = boxes[i];
    for (let j = i + 1; j < boxes.length && boxes[j].top < a.bottom - tolerance; j++) {
      const b = boxes[j];
      if (a.node === b.node) continue;
      const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (x > tolerance && y > tolerance) {
        const at = `${Math.round(b.left)},${Math.round(b.top + scrollY)}`;
        overlaps.push(`${JSON.stringify(a.text)} overlaps ${JSON.stringify(b.text)} `
          + `(${Math.round(x)}×${Math.round(y)} px at ${at})`);
      }
    }
  }
  return {boxes: boxes.length, overlaps};
}
"""

OVERLAP_TOLERANCE_PX = 2


def text_overlaps(page) -> tuple[int, list[str]]:
    """(how many text boxes were measured, each pair of them that overlaps)."""
    found = page.evaluate(_TEXT_BOXES, OVERLAP_TOLERANCE_PX)
    return found["boxes"], found["overlaps"]


# Keyboard ------------------------------------------------------------------------------------

CONTROLS = (
    "a[href], button, input:not([type=hidden]), select, textarea, summary, "
    "[tabindex]:not([tabindex='-1']), [onclick], [role=button], [role=link], [role=checkbox], "
    "[role=tab], [role=menuitem], [hx-get]:not(form):not([hx-trigger]), "
    "[hx-post]:not(form):not([hx-trigger])"
)

_MARK_CONTROLS = """
(selector) => {
  // Closed menus are opened, so that what they hold is checked too.
  document.querySelectorAll("details:not([open])").forEach((d) => { d.open = true; });
  const controls = [];
  document.querySelectorAll(selector).forEach((el) => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || !el.checkVisibility({visibilityProperty: true})) return;
    if (el.disabled || el.closest("fieldset[disabled]")) return;
    el.dataset.kb = String(controls.length);
    const name = (el.getAttribute("aria-label") || el.innerText || el.value || el.name || "")
      .trim().slice(0, 50);
    // A scrolling region is focusable (to scroll it with the arrows), not activated.
    const activatable = el.matches("a[href], button, summary, input, [onclick], "
      + "[role=button], [role=link], [role=checkbox], [role=tab], [role=menuitem], "
      + "[hx-get], [hx-post]") && !el.matches("input:not([type=checkbox]):not([type=radio])"
      + ":not([type=submit]):not([type=button]):not([type=reset])");
    controls.push({kb: controls.length, tag: el.tagName.toLowerCase(),
                   type: (el.type || "").toLowerCase(), name, activatable});
  });
  // Activation is recorded and stopped before the page acts on it: nothing is submitted.
  window.__activated = [];
  const stop = (event) => {
    const el = event.target.closest && event.target.closest("[data-kb]");
    if (el) window.__activated.push(el.dataset.kb);
    event.preventDefault();
    event.stopImmediatePropagation();
  };
  window.addEventListener("click", stop, true);
  window.addEventListener("submit", stop, true);
  return controls;
}
"""


_FOCUS = """(kb) => {
  window.__activated = [];
  document.querySelector(`[data-kb="${kb}"]`).focus();
}"""


def _active(page) -> str | None:
    return page.evaluate(
        "() => document.activeElement && document.activeElement.dataset.kb || null"
    )


def keyboard_problems(page) -> tuple[int, list[str]]:
    """Tab through the page from its start; every visible control must be reached. Then each
    button, link, menu and checkbox is activated from the keyboard (Enter, or Space for
    checkboxes): the click it makes is recorded and stopped, so nothing changes. Returns (how
    many controls, what is wrong)."""
    controls = page.evaluate(_MARK_CONTROLS, CONTROLS)
    problems = []
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    reached: list[str] = []
    for _ in range(len(controls) + 5):
        page.keyboard.press("Tab")
        kb = _active(page)
        if kb is not None:
            if reached and kb == reached[0]:
                break
            reached.append(kb)
    for c in controls:
        if str(c["kb"]) not in reached:
            problems.append(f"not reached with Tab: <{c['tag']}> {c['name']!r}")
    for c in controls:
        if not c["activatable"]:
            continue  # typed into, chosen from, or scrolled: the browser's own keys
        key = "Space" if c["type"] in ("checkbox", "radio") else "Enter"
        page.evaluate(_FOCUS, str(c["kb"]))
        if _active(page) != str(c["kb"]):
            problems.append(f"cannot take the focus: <{c['tag']}> {c['name']!r}")
            continue
        page.keyboard.press(key)
        if str(c["kb"]) not in page.evaluate("() => window.__activated"):
            problems.append(f"{key} does not activate <{c['tag']}> {c['name']!r}")
    return len(controls), problems


# axe-core ------------------------------------------------------------------------------------


def axe_available() -> str | None:
    """Why the accessibility check cannot run here (None: it can). With CI set, a missing
    axe-core is a failure of the caller, not a skip."""
    if AXE.exists():
        return None
    return (
        f"axe-core is not installed at {AXE}: run `{AXE_INSTALL}` from the repository "
        "(make test does it when npm exists; without npm the accessibility tests skip)"
    )


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    """axe-core's violations of the page at these impacts, one line each with the elements."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {resultTypes: ["violations"]});
          return r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5), count: v.nodes.length}));
        }"""
    )
    return [
        f"{v['impact']} {v['id']}: {v['help']} — {v['count']} element(s), e.g. {v['nodes']}"
        for v in result
        if v["impact"] in impacts
    ]


def screenshot_folder(default: Path) -> Path:
    """Where each page's screenshot goes: ROLLBOOK_SCREENSHOTS, or ``default``."""
    path = Path(os.environ.get("ROLLBOOK_SCREENSHOTS") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path
