"""Ids sort in the order they were made, even many in one millisecond."""

from payments.persistence.ids import new_id


def test_ids_made_in_a_burst_sort_in_the_order_they_were_made():
    ids = [new_id("alc") for _ in range(5000)]

    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_an_id_has_its_prefix_and_26_base32_characters():
    value = new_id("pay")

    prefix, _, body = value.partition("_")
    assert prefix == "pay" and len(body) == 26
    assert set(body) <= set("0123456789abcdefghjkmnpqrstvwxyz")
