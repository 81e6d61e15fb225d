"""A secret setting never appears where settings are printed, but reaches child processes."""

from __future__ import annotations

import pytest

from config.settings import SettingsError, load_settings

SECRET = "s3cret-siphash-key"
ENV = {"VIGIL_WATCHLIST_HASH_SECRET": SECRET}


def test_secret_is_masked_in_repr_str_and_describe() -> None:
    s = load_settings(env=ENV)
    printed = [repr(s), str(s), f"{s}", repr(s.watchlist), str(s.watchlist),
               *(value for row in s.describe() for value in row)]
    assert not [text for text in printed if SECRET in text]
    assert "hash_secret='***'" in repr(s.watchlist) and "hash_secret='***'" in str(s)
    assert ("watchlist.hash_secret", '"***"', "VIGIL_WATCHLIST_HASH_SECRET") in s.describe()


def test_empty_secret_shows_empty() -> None:
    s = load_settings(env={})
    assert "hash_secret=''" in repr(s)
    assert ("watchlist.hash_secret", '""', "VIGIL_WATCHLIST_HASH_SECRET") in s.describe()


def test_other_settings_print_as_before() -> None:
    s = load_settings(env={"VIGIL_KAFKA_TOPIC_PREFIX": "x."})
    assert "topic_prefix='x.'" in repr(s.kafka)
    assert repr(s.worker).startswith("WorkerSettings(web_host='127.0.0.1', web_port=6066, ")
    assert ("kafka.topic_prefix", '"x."', "VIGIL_KAFKA_TOPIC_PREFIX") in s.describe()


def test_as_env_and_attributes_keep_the_real_secret() -> None:
    s = load_settings(env=ENV)
    assert s.watchlist.hash_secret == SECRET
    assert s.as_env()["VIGIL_WATCHLIST_HASH_SECRET"] == SECRET
    assert load_settings(env=s.as_env()) == s


def test_a_refused_secret_is_masked_in_the_error() -> None:
    too_long = SECRET * 20
    with pytest.raises(SettingsError) as err:
        load_settings(env={"VIGIL_WATCHLIST_HASH_SECRET": too_long})
    assert str(err.value) == ("config: watchlist.hash_secret = '***' "
                              "(from VIGIL_WATCHLIST_HASH_SECRET): expected at most 256 characters")
