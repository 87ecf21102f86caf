"""FASTA reader: both header styles, formatting variants, and every rejected input."""

import gzip

import pytest

from rcl.data.fasta import FastaError, read_fasta


def test_nrc_header_multiline_crlf_lowercase_u(write_fasta):
  path = write_fasta("a.fa", ">s1 tRNA\r\nacgu\r\nUUGG\r\n>s2  5S_rRNA \nAC GT\n\n")
  r1, r2 = read_fasta(path)
  assert (r1.id, r1.label, r1.sequence, r1.line) == ("s1", "tRNA", "ACGTTTGG", 1)
  assert (r2.id, r2.label, r2.sequence, r2.line) == ("s2", "5S_rRNA", "ACGT", 4)


def test_rfam_accession_header(write_fasta):
  path = write_fasta("r.fa", ">RF00001\nACGT\n>RF00005\nGGCC\n>RF00001\nTTTT\n")
  records = read_fasta(path)
  assert [r.label for r in records] == ["RF00001", "RF00005", "RF00001"]
  assert len({r.id for r in records}) == 3


def test_gzip_input(tmp_path):
  path = tmp_path / "x.fa.gz"
  with gzip.open(path, "wt") as f:
    f.write(">a miRNA\nACGU\n")
  (record,) = read_fasta(str(path))
  assert (record.label, record.sequence) == ("miRNA", "ACGT")


def test_iupac_codes_are_kept(write_fasta):
  (record,) = read_fasta(write_fasta("n.fa", ">a x\nACNRYKMSWBDHVT\n"))
  assert record.sequence == "ACNRYKMSWBDHVT"


@pytest.mark.parametrize("text, line, record, problem", [
    (">a x\nAC1T\n", 2, "a", "'1'"),
    (">a x\nACGT\n>b y\nAC-T\n", 4, "b", "'-'"),
    (">a x\nAC*T\n", 2, "a", "'*'"),
    (">a x\n>b y\nACGT\n", 1, "a", "empty sequence"),
    (">a x\nACGT\n>b y\n", 3, "b", "empty sequence"),
    ("ACGT\n>a x\nACGT\n", 1, None, "before the first"),
    (">a x\nACGT\n>lonely\nACGT\n", 3, "lonely", "missing class label"),
    (">\nACGT\n", 1, None, "empty header"),
])
def test_errors_name_file_line_record(write_fasta, text, line, record, problem):
  path = write_fasta("bad.fa", text)
  with pytest.raises(FastaError) as info:
    read_fasta(path)
  err = info.value
  assert (err.path, err.line, err.record) == (path, line, record)
  assert problem in str(err) and path in str(err)


def test_missing_label_allowed_for_prediction(write_fasta):
  (record,) = read_fasta(write_fasta("p.fa", ">query1\nACGU\n"), require_label=False)
  assert (record.id, record.label, record.sequence) == ("query1", None, "ACGT")


def test_empty_and_binary_files(write_fasta):
  with pytest.raises(FastaError, match="no FASTA records"):
    read_fasta(write_fasta("e.fa", "\n\n"))
  with pytest.raises(FastaError, match="not a text FASTA"):
    read_fasta(write_fasta("b.fa", b"\xff\xfe\x00binary"))


def test_byte_order_mark_and_no_final_newline(write_fasta, tmp_path):
  (record,) = read_fasta(write_fasta("bom.fa", "\ufeff>a tRNA\nACGU"))
  assert (record.id, record.label, record.sequence) == ("a", "tRNA", "ACGT")
  path = tmp_path / "bom.fa.gz"
  with gzip.open(path, "wb") as f:
    f.write(b"\xef\xbb\xbf>b miRNA\nGG\n")
  (record,) = read_fasta(str(path))
  assert (record.id, record.sequence) == ("b", "GG")


def test_truncated_gzip_names_the_file(tmp_path):
  path = tmp_path / "cut.fa.gz"
  body = gzip.compress(("".join(f">s{i} tRNA\nACGTACGTAC\n" for i in range(2000))).encode())
  path.write_bytes(body[: len(body) // 2])
  with pytest.raises(FastaError, match="truncated or corrupt gzip") as info:
    read_fasta(str(path))
  assert info.value.path == str(path) and 1000 < info.value.line < 4000  # where the data stops
