"""Issue 8 item 21: a database password is masked where it stands as a password, never where
the same word means something else (a user, a database, the word "archive")."""

from __future__ import annotations

import pytest

from cexledger.archive import Archive
from cexledger.archive.engine import Target, mask_passwords
from cexledger.errors import ArchiveError


def refused(url: str) -> str:
    with pytest.raises(ArchiveError) as caught:
        Archive.open(url)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("word", ["cexledger", "archive", "password"])
def test_a_password_equal_to_a_word_of_a_real_refusal_masks_only_the_password(postgres_server, word):
    """The server answers 'database "<word>" does not exist'; the password is that word."""
    url = f"postgresql+psycopg://postgres:{word}@{postgres_server.host}:{postgres_server.port}/{word}"
    message = refused(url)
    assert f"postgres:{word}@" not in message, message          # the password itself: never
    assert "postgres:***@" in message, message
    assert f'database "{word}" does not exist' in message, message
    assert message.startswith("cannot open archive "), message
    assert "[***]" not in message and '"***"' not in message, message


def test_passwords_in_driver_text_are_masked_where_they_stand_as_passwords():
    target = Target.parse("postgresql+psycopg://cexledger:cexledger@db.example/cexledger")
    text = ('connection to postgresql://cexledger:cexledger@db.example/cexledger failed for user '
            '"cexledger" (host=db.example password=cexledger dbname=cexledger), '
            "retrying with password = 'cex ledger' as cexledger[1]")
    message = str(target.error("open", text))
    assert "cexledger:cexledger@" not in message and "password=cexledger" not in message
    assert "'cex ledger'" not in message
    assert "cexledger:***@" in message and "password=***" in message and "password = ***" in message
    assert 'user "cexledger"' in message and "dbname=cexledger" in message and "cexledger[1]" in message


def test_mask_passwords_leaves_text_without_passwords_alone():
    text = "database archive is locked; the archive password rule is unchanged"
    assert mask_passwords(text) == text
