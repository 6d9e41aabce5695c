"""Codec benchmark: Avro single-object encode and decode records/s for FeatureVector.

python -m bench.common.codec_throughput [--records 200000]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from services.common.codec import AvroCodec
from services.common.events import header
from services.common.settings import REPO_ROOT

NUMERIC = [
    "years_experience",
    "salary_k",
    "skill_match",
    "distance_km",
    "dwell_s",
    "hour_sin",
    "hour_cos",
    "member_views",
    "job_views",
    "remote",
]


def feature_vector(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        **header("feature"),
        "interaction_id": f"00000000-0000-0000-0000-{i:012d}",
        "member_id": f"m{rng.randrange(50_000)}",
        "job_id": f"j{rng.randrange(5_000)}",
        "interaction_ts": 1_700_000_000_000 + i,
        "numeric": {name: (None if rng.random() < 0.01 else rng.gauss(0, 1)) for name in NUMERIC},
        "categorical": {"region": "eu", "device": "ios", "industry": "software", "seniority": "senior"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    codec = AvroCodec.from_dir(REPO_ROOT / "schemas")
    rng = random.Random(7)
    records = [feature_vector(rng, i) for i in range(args.records)]
    start = time.perf_counter()
    encoded = [codec.encode("FeatureVector", r) for r in records]
    enc_s = time.perf_counter() - start
    start = time.perf_counter()
    for data in encoded:
        codec.decode(data, "FeatureVector")
    dec_s = time.perf_counter() - start
    size = sum(map(len, encoded)) / len(encoded)
    print(f"FeatureVector ({len(NUMERIC)} numeric + 4 categorical features, {size:.0f} bytes on the wire)")
    print(f"encode: {args.records / enc_s:>10,.0f} records/s")
    print(f"decode: {args.records / dec_s:>10,.0f} records/s")


if __name__ == "__main__":
    main()
