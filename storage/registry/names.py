"""The normalised form of a subject's name, stored in `subjects.name_key`."""

import unicodedata

# Spellings of one legal form that registries and monitoring systems mix up.
_SUFFIX_VARIANTS = (("有限责任公司", "有限公司"),)


def normalize_name(name: str) -> str:
    """Return the form in which two spellings of a name compare equal.

    It turns full-width characters into their ASCII forms (NFKC), removes all
    whitespace, writes 有限责任公司 as 有限公司 and folds case, so that
    "东胜区益农农业科技有限责任公司" and "东胜区益农 农业科技有限公司" match.

    NOTE: subjects.name_key stores this form, so a change here needs a
    migration that refills name_key the way 0005_subject_name_key does.
    """
    text = "".join(unicodedata.normalize("NFKC", name).split())
    for variant, canonical in _SUFFIX_VARIANTS:
        text = text.replace(variant, canonical)
    return text.casefold()
