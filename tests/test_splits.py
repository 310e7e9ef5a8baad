"""Patient-disjoint, stratified, reproducible splits on the real Kermany pool."""

from collections import Counter

import pytest

from trainer.data import patient_id, scan_training_pool
from trainer.splits import patient_split, read_splits, write_splits

from .conftest import KERMANY


@pytest.fixture(scope="module")
def pool():
    return scan_training_pool(KERMANY)


def test_pool_is_train_plus_val_only(pool):
    assert len(pool) == 1341 + 3875 + 8 + 8
    assert not any("test" in part for r in pool for part in r.path.relative_to(KERMANY).parts)


def test_patient_ids():
    assert patient_id("person1946_bacteria_4874.jpeg") == patient_id("person1946_virus_4875.jpeg") == "person-1946"
    assert patient_id("IM-0115-0001.jpeg") == "im-115"
    assert patient_id("NORMAL2-IM-0115-0001.jpeg") == "normal2-115"
    assert patient_id("IM-0115-0001.jpeg") != patient_id("NORMAL2-IM-0115-0001.jpeg")


def test_no_patient_in_two_splits(pool):
    splits = patient_split(pool, 0.1, 0.1, seed=0)
    owners = {}
    for name, recs in splits.items():
        for r in recs:
            assert owners.setdefault(r.patient, name) == name
    assert sum(len(v) for v in splits.values()) == len(pool)


def test_stratified(pool):
    splits = patient_split(pool, 0.1, 0.1, seed=0)

    def pneumonia_share(recs):
        per_patient = {r.patient: r.label for r in recs}
        return sum(per_patient.values()) / len(per_patient)

    overall = pneumonia_share(pool)
    for name, recs in splits.items():
        assert abs(pneumonia_share(recs) - overall) < 0.01, name
    n_patients = {name: len({r.patient for r in recs}) for name, recs in splits.items()}
    total = sum(n_patients.values())
    assert abs(n_patients["val"] / total - 0.1) < 0.01 and abs(n_patients["test"] / total - 0.1) < 0.01


def test_same_seed_same_split_other_seed_other_split(pool, tmp_path):
    a, b, c = (patient_split(pool, 0.1, 0.1, seed=s) for s in (7, 7, 8))
    assert a == b
    assert a != c
    write_splits(a, tmp_path / "splits.csv")
    assert read_splits(tmp_path / "splits.csv") == a


def test_each_patient_has_one_label(pool):
    labels = {}
    for r in pool:
        assert labels.setdefault(r.patient, r.label) == r.label
    assert Counter(labels.values())[0] > 100
