"""The CSV reader alone: no database, every row located on the file's physical line."""

from __future__ import annotations

import io

import pytest

from herald.contacts.csv_reader import ContactCsvReader, Rejection, RowBatch
from herald.kit.errors import Invalid


def read_all(data: bytes, batch: int = 1000) -> RowBatch:
    reader = ContactCsvReader(io.BytesIO(data))
    everything = RowBatch()
    while True:
        part = reader.next_batch(batch)
        everything.rows += part.rows
        everything.rejections += part.rejections
        if part.done:
            return everything


class TestContactCsvReaderRows:
    def test_good_rows_are_parsed_with_tags_and_valued_tags(self) -> None:
        batch = read_all(b"phone,name,tags,vt:plan\n33612345678,Ana,vip; new ;,pro\n+14155552671,,,\n")
        assert batch.rejections == []
        ana, second = batch.rows
        assert (ana.phone, ana.phone_raw, ana.name, ana.tags, ana.valued_tags) == (
            "+33612345678", "33612345678", "Ana", ["vip", "new"], {"plan": "pro"}
        )
        assert (second.name, second.tags, second.valued_tags) == (None, [], {})

    def test_bad_rows_are_rejected_with_their_line_and_reason(self) -> None:
        data = (
            b"phone,name,tags\n"
            b"+33612345678,Ana,vip\n"        # 2 ok
            b"123,Bob,\n"                    # 3
            b",Cid,\n"                       # 4
            b"+33612345679,Dan\n"            # 5
            b"+33612345670,Eve," + b"t" * 101 + b"\n"  # 6
            b"\n"                            # 7 blank: skipped
            b"+33612345671,Fay,\n"           # 8 ok
        )
        batch = read_all(data)
        assert [r.phone for r in batch.rows] == ["+33612345678", "+33612345671"]
        assert batch.rejections == [
            Rejection(3, "invalid phone '123'"),
            Rejection(4, "phone is empty"),
            Rejection(5, "expected 3 fields, found 2"),
            Rejection(6, "tag 'tttttttttttttttttttt…' is longer than 100 characters"),
        ]

    def test_quoted_fields_with_commas_and_newlines_keep_line_numbers_physical(self) -> None:
        data = (
            b'phone,name,tags\n'
            b'+33612345678,"Lima, Ana",vip\n'       # 2
            b'+33612345679,"two\nline name",\n'     # 3-4
            b'bad,"x\ny\nz",\n'                      # 5-7
            b'+33612345670,Eve,\n'                  # 8
            b'nope,Eve,\n'                          # 9
        )
        batch = read_all(data)
        assert [r.name for r in batch.rows] == ["Lima, Ana", "two\nline name", "Eve"]
        assert batch.rejections == [Rejection(5, "invalid phone 'bad'"), Rejection(9, "invalid phone 'nope'")]

    def test_bom_semicolons_and_crlf_are_understood(self) -> None:
        data = "\ufeffphone;name;tags\r\n+33612345678;Zoë;\"a;b\"\r\n12;x;\r\n".encode()
        batch = read_all(data)
        assert [(r.name, r.tags) for r in batch.rows] == [("Zoë", ["a", "b"])]
        assert batch.rejections == [Rejection(3, "invalid phone '12'")]

    def test_invalid_utf8_rejects_only_its_row(self) -> None:
        batch = read_all(b"phone,name\n+33612345678,Ana\n+33612345679,\xff\xfe\n+33612345670,Eve\n")
        assert [r.name for r in batch.rows] == ["Ana", "Eve"]
        assert batch.rejections == [Rejection(3, "line is not valid UTF-8 text")]

    def test_rows_come_in_batches_of_the_size_asked(self) -> None:
        rows = b"".join(b"+336%08d,\n" % i for i in range(25))
        reader = ContactCsvReader(io.BytesIO(b"phone,name\n" + rows))
        sizes = []
        while not (batch := reader.next_batch(10)).done:
            sizes.append(len(batch.rows))
        sizes.append(len(batch.rows))
        assert sizes == [10, 10, 5]


class TestContactCsvReaderHeader:
    @pytest.mark.parametrize(
        ("data", "words"),
        [
            (b"phone,email,age\n", ["'email'", "'age'"]),
            (b"name,tags\n", ["no 'phone' column"]),
            (b"", ["empty"]),
            (b"phone,phone\n", ["twice"]),
            (b"phone,vt:\n", ["valued tag key is empty"]),
        ],
    )
    def test_a_wrong_header_is_a_clear_422(self, data: bytes, words: list[str]) -> None:
        with pytest.raises(Invalid) as caught:
            ContactCsvReader(io.BytesIO(data))
        assert caught.value.status_code == 422
        for word in words:
            assert word in caught.value.message

    def test_column_names_are_case_and_space_insensitive(self) -> None:
        reader = ContactCsvReader(io.BytesIO(b" Phone , NAME,VT:Customer_ID\n+33612345678,A,88\n"))
        row = reader.next_batch(10).rows[0]
        assert row.valued_tags == {"Customer_ID": "88"}
