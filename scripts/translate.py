"""Fill msgstr entries of a catalog from a TSV of "msgid<TAB>msgstr" lines.

Usage: .venv/bin/python scripts/translate.py LOCALE FILE.tsv
Entries already translated are left as they are unless the TSV names them.
"""

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po


def main() -> None:
    locale, table = sys.argv[1], Path(sys.argv[2])
    path = Path("griddispatch/locales") / locale / "LC_MESSAGES" / "griddispatch.po"
    translations = dict(
        line.split("\t", 1) for line in table.read_text(encoding="utf-8").splitlines() if line
    )
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    for message in catalog:
        if message.id in translations:
            message.string = translations[str(message.id)]
            message.flags.discard("fuzzy")
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100)
    missing = [str(m.id) for m in catalog if m.id and not m.string]
    print(f"{path}: {len(missing)} untranslated", *missing, sep="\n  ")


if __name__ == "__main__":
    main()
