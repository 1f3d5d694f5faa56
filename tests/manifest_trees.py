"""Hand-written trees, one per rule of Django's reference rewriting."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import write

PNG = b"\x89PNG\r\n\x1a\n"


def write_tree(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        write(folder / name, content)
    return folder


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes]
    url: str = "/static/"
    js_module_imports: bool = False
    lenient: bool = False
    max_passes: int = 5
    agrees_52: bool = True  # False: the tree shows where 5.2 and 6.1 differ
    warnings: int = 0
    expect: tuple[bytes, ...] = field(default=())  # fragments our rewritten output must hold


IMAGES: dict[str, str | bytes] = {
    "img/p.png": PNG,
    "img/café ☕.png": PNG + b"cafe",
    "img/a b.png": PNG + b"space",
    "img/100%.png": PNG + b"pct",
    "img/x#y.png": PNG + b"hash",
    "img/UP.PNG": PNG + b"upper",
    "fonts/f.eot": b"eot",
    "fonts/f.woff": b"woff",
}

URLS_CSS = """\
@import "other.css";
@import 'sub/deep.css';
@import url("sub/deep.css");
.rel { background: url(../img/p.png); }
.dot { background: url(./../css/../img/p.png); }
.frag { background: url("../img/p.png#frag"); }
.query { background: url('../img/p.png?v=1'); }
.querycss { background: url(other.css?v=2); }
.abs { background: url(/static/img/p.png); }
.absq { background: url("/static/img/p.png?x#y"); }
@font-face { src: url(../fonts/f.eot?#iefix) format("embedded-opentype"),
                  url("../fonts/f.woff#fa") format("woff"); }
.data { background: url(data:image/png;base64,iVBORw0KGgo=); }
.svg { background: url("data:image/svg+xml;charset=utf8,%3Csvg xmlns='x'%3E%3C/svg%3E"); }
.http { background: url(http://example.com/x.png); }
.https { background: url('https://example.com/x.png'); }
.proto { background: url(//cdn.example.com/x.png); }
.other { background: url(/media/x.png); }
.only { behavior: url(#default#VML); }
.upper { background: URL(../img/UP.PNG); }
.spaces { background: url(   ../img/p.png   ); }
.dir { background: url(../img/); }
.dir2 { background: url(../img); }
.cafe { background: url("../img/café ☕.png"); }
.cafe2 { background: url(../img/caf%C3%A9%20%E2%98%95.png); }
.space { background: url("../img/a b.png"); }
.space2 { background: url(../img/a%20b.png); }
.pct { background: url(../img/100%.png); }
/*# sourceMappingURL=base.css.map */
"""

RULES = Case(
    "rules",
    {
        **IMAGES,
        "css/base.css": URLS_CSS,
        "css/base.css.map": "{}",
        # rewritten, so a query-string reference to it gets its *original* hash (as Django)
        "css/other.css": ".o { background: url(../img/p.png); }\n",
        "css/sub/deep.css": ".d { background: url('../../img/p.png'); }\n",
        "css/trailing.css": "a{}\n/*# sourceMappingURL=base.css.map   */\n",
        "css/after.css": "a{}\n/*# sourceMappingURL=base.css.map */  \n",
        "css/UPPER.CSS": ".x { background: url(../img/p.png); }\n",
        "js/app.js": "console.log(1);\n//# sourceMappingURL=app.js.map\n",
        "js/trailing.js": "console.log(2);\n//# sourceMappingURL=app.js.map  \t\n",
        "js/app.js.map": "{}",
        "js/nomap.js": "console.log('//# sourceMappingURL=app.js.map');\n",
    },
    expect=(
        b'url("../img/p.', b"#frag", b"?v=1", b'"/static/img/p.', b"?#iefix",
        "caf\u00e9 \u2615.".encode(), b"sourceMappingURL=app.js.",
    ),
)  # fmt: skip

# 6.1 ignores url() in comments and strings; 5.2 rewrites them (here: fails on a missing file).
COMMENTS = Case(
    "comments-and-strings",
    {
        **IMAGES,
        "css/c.css": (
            "/* .old { background: url(../img/gone.png); } */\n"
            '.q::before { content: "url(../img/gone.png)"; }\n'
            ".q::after { content: 'see @import \"gone.css\"'; }\n"
            ".real { background: url(../img/p.png); }\n"
            "/* multi-line\n   url(nowhere.png)\n*/\n"
        ),
        "js/c.js": (
            "// //# sourceMappingURL=gone.map\n"
            "var s = '//# sourceMappingURL=gone.map';\n"
            "//# sourceMappingURL=c.js.map\n"
        ),
        "js/c.js.map": "{}",
    },
    agrees_52=False,
)

JS_MODULES = Case(
    "js-modules",
    {
        "js/app.js": (
            'import { a } from "./lib/a.js";\n'
            "import * as b from './lib/b.js';\n"
            "import def, {\n  x,\n  y\n} from './lib/a.js'\n"
            'export { c } from "./lib/b.js";\n'
            "export * from '../js/lib/a.js';\n"
            'import "./lib/side.js";\n'
            'const lazy = import("./lib/b.js");\n'
            'const bare = import("lodash");\n'
            '// import z from "./gone.js";\n'
            "const t = `import w from './gone.js'`;\n"
            "/* export { q } from './gone.js'; */\n"
            "//# sourceMappingURL=app.js.map\n"
        ),
        "js/app.js.map": "{}",
        "js/lib/a.js": "export const a = 1, x = 2, y = 3; export default 4;\n",
        "js/lib/b.js": 'import { a } from "./a.js";\nexport const b = a, c = a;\n',
        "js/lib/side.js": "window.side = 1;\n",
    },
    js_module_imports=True,
    agrees_52=False,
    expect=(b'from "./lib/a.', b'import"./lib/side.', b'import("./lib/b.', b'import("lodash")'),
)

CDN = Case(
    "static-url-absolute",
    {
        **IMAGES,
        "css/cdn.css": (
            ".a { background: url(/static/img/p.png); }\n"
            ".b { background: url(https://cdn.example.com/static/img/p.png); }\n"
            ".c { background: url(../img/p.png); }\n"
        ),
    },
    url="https://cdn.example.com/static/",
)

RELATIVE_URL = Case(
    "static-url-relative",
    {**IMAGES, "css/r.css": ".a { background: url(/assets/img/p.png); }\n"},
    url="assets/",
    expect=(b'url("/assets/img/p.',),
)

# 6.1 needs matching quotes; 5.2 accepts url('x") and url("x). Lenient: 6.1 leaves them.
QUOTES = Case(
    "mismatched-quotes",
    {**IMAGES, "css/q.css": ".a { background: url('../img/p.png\"); }\n"},
    lenient=True,
    agrees_52=False,
    warnings=1,
)

LENIENT = Case(
    "lenient-missing",
    {
        **IMAGES,
        "css/m.css": (
            ".a { background: url(../img/gone.png); }\n"
            ".b { background: url(../img/p.png); }\n"
            '@import "gone.css";\n'
            "/*# sourceMappingURL=gone.css.map */\n"
        ),
        "js/m.js": "//# sourceMappingURL=gone.js.map\n",
    },
    lenient=True,
    warnings=4,
)

# A source that already holds hashed names (e.g. a copied STATIC_ROOT): outputs land on
# collected names. Django keeps a copied file there, but re-saves a rewritten CSS there.
PREHASHED = Case(
    "prehashed-names",
    {
        "img/p.png": PNG,
        "img/p.e9dd2797018c.png": PNG,
        "css/k.css": ".k { background: url(../img/p.png); }\n",
        "css/k.c463bfa7255a.css": ".k { background: url(../img/p.png); }\n",
    },
)

DEEP = Case(
    "nested-order",
    {
        "img/p.png": PNG,
        "a.css": '@import "css/b.css";\n@import url(css/sub/c.css);\n',
        "css/b.css": '@import "sub/c.css";\n.b { background: url(../img/p.png); }\n',
        "css/sub/c.css": '@import "../../d.css";\n',
        "d.css": ".d { background: url(img/p.png); }\n",
    },
)

# References to folders look nothing up, yet Django still writes them back normalised.
FOLDERS = Case(
    "folder-urls",
    {
        "img/p.png": PNG,
        "css/a.css": ".a{background:url(../img/)}\n",
        "css/b.css": "@import 'sub/';\n",
        "css/c.css": ".c{background:url(/static/img/)}\n",
        "css/d.css": ".d{background:url(?x)}\n",
        "js/a.js": "import {a} from './lib/';\n",
        "js/m.js": "x();\r\n//# sourceMappingURL=maps/#caf%C3%A9\r\n",
    },
    js_module_imports=True,
    expect=(
        b'url("../img/")', b'@import url("sub/")', b'url("/static/img/")', b'url("?x")',
        b'from "./lib/"', "sourceMappingURL=maps/#caf\u00e9\n".encode(),
    ),
)  # fmt: skip

# urllib cannot parse these ("Invalid IPv6 URL"), first in Django's _url, then in its
# hashed_name. Lenient: left as written, like a missing file; strict fails as Django does.
MALFORMED = Case(
    "malformed-urls",
    {
        "img/p.png": PNG,
        "css/a.css": (
            ".a{background:url(/static///[x)}\n"
            ".b{background:url(/static///a/../%255Bx)}\n"
            ".c{background:url(../img/p.png)}\n"
        ),
    },
    lenient=True,
    warnings=2,
    expect=(b"url(/static///[x)", b"url(/static///a/../%255Bx)", b'url("../img/p.'),
)

# Without semicolons one module pattern matches what an earlier one wrote, and 6.1 looks
# the hashed name up again: x.<h>.<h>.js (5.2 leaves some of these as written). Each file
# named sits deeper than the file naming it: Django saves it first, whatever the listing
# order, so its strict first pass finds the hashed name too.
LIB: dict[str, str | bytes] = {
    "js/lib/x.js": "export const x = 1\n",
    "js/lib/side.js": "window.s = 1\n",
    "js/lib/b.js": "export default 2\n",
    "js/lib/r.js": "import {x} from './x.js';\nexport const r = x;\n",  # rewritten itself
}
MODULE_CHAINS = Case(
    "js-module-chains",
    {
        **LIB,
        "js/app.js": "import './lib/side.js'\nexport { x } from './lib/x.js'\n",
        "js/asi.js": "export const a = 1\nimport b from './lib/b.js'\nconsole.log(a, b)\n",
        "js/min.js": "import exportfrom'./lib/b.js\"\n",
        "js/re.js": "import './lib/side.js'\nexport { r } from './lib/r.js'\n",
        "js/query.js": "export const q = 1\nimport v from './lib/b.js?v=1'\n",
    },
    js_module_imports=True,
    agrees_52=False,
    expect=(
        b'import"./lib/side.', b'export { x } from "./lib/x.71a658c7b5c3.71a658c7b5c3.js"',
        b'import export  from "./lib/b.885572861bf4.885572861bf4.js"',
        b'b.885572861bf4.885572861bf4.js?v=1"',
    ),
)  # fmt: skip

# The hashed name of r.js's original is not saved (r.js is rewritten): left, with a warning.
MODULE_CHAINS_LENIENT = Case(
    "js-module-chains-lenient",
    {**LIB, "js/query.js": "export const q = 1\nimport v from './lib/r.js?v=1'\n"},
    js_module_imports=True,
    lenient=True,
    agrees_52=False,
    warnings=1,
)

# The scan marks where a hash goes with twelve zeros; a text that holds twelve zeros of its
# own (a 1e12 constant; a name spelled with %30) must not be taken for what it wrote.
ZEROS = Case(
    "twelve-zeros",
    {
        **LIB,
        "js/app.js": (
            "import './lib/side.js'\nexport { x } from './lib/x.js'\n"
            "export const T = 1000000000000;\n"
        ),
        "img/spacer000000000000.gif": b"GIF89a",
        "css/s.css": ".a{background:url(../img/spacer000000%3000000.gif)}\n",
    },
    js_module_imports=True,
    agrees_52=False,
    expect=(
        b'export { x } from "./lib/x.71a658c7b5c3.71a658c7b5c3.js"',
        b"img/spacer000000000000.",
    ),
)

# A vendored copy already named like b.js's hashed name: the name an earlier pattern wrote
# is that collected file, and Django's passes settle on its own hashed name.
VENDORED = Case(
    "vendored-prehashed",
    {
        "js/a.js": "export const a = 1;\n",
        "js/b.js": "export const x = 2;\n",
        "js/b.c270fda5a1f1.js": "export const x = 2;\n",  # b.js's bytes
        "js/c.js": "export const y = 3;\n",
        "js/c.314af69f3c67.js": "export const other = 4;\n",  # other bytes
        "js/m.js": "import './a.js'\nexport {x} from './b.js'\nexport {y} from './c.js'\n",
    },
    js_module_imports=True,
    agrees_52=False,
    expect=(b'from "./b.c270fda5a1f1.c270fda5a1f1.js"',),
)

CASES = [
    *(RULES, COMMENTS, JS_MODULES, CDN, RELATIVE_URL, QUOTES, LENIENT, PREHASHED, DEEP),
    *(FOLDERS, MALFORMED, MODULE_CHAINS, MODULE_CHAINS_LENIENT, ZEROS, VENDORED),
]
