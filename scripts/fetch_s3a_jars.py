"""Put Spark's s3a connector on the venv's pyspark classpath (setup step, Maven Central).

hadoop-aws must be the exact Hadoop version inside the pyspark wheel
(pyspark/jars/hadoop-client-api-<version>.jar), and the AWS SDK v2 bundle the version
that Hadoop release was built with (``aws-java-sdk-v2.version`` in hadoop-project's POM).
spark-hadoop-cloud (the version of pyspark) binds Spark's SQL writers to Hadoop's S3A
committers (the magic committer of conf/s3_local/spark.yml); the pyspark wheel lacks it.
Jars are downloaded once into a cache, checked against Maven's SHA-1, and symlinked into
pyspark/jars - the same place EMR keeps them on its own classpath.

    python scripts/fetch_s3a_jars.py            # prints the jar paths
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import urllib.request
from pathlib import Path

import pyspark

MAVEN = "https://repo1.maven.org/maven2"
CACHE = Path.home() / ".cache" / "fruits_pipeline" / "jars"


def hadoop_version(spark_jars: Path) -> str:
    found = sorted(spark_jars.glob("hadoop-client-api-*.jar"))
    if not found:
        sys.exit(f"no hadoop-client-api-*.jar in {spark_jars}: is pyspark installed completely?")
    return found[0].stem.removeprefix("hadoop-client-api-")


def scala_version(spark_jars: Path) -> str:
    found = sorted(spark_jars.glob("spark-core_*.jar"))
    if not found:
        sys.exit(f"no spark-core_*.jar in {spark_jars}: is pyspark installed completely?")
    return found[0].name.removeprefix("spark-core_").split("-", 1)[0]


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def aws_sdk_version(hadoop: str) -> str:
    pom = fetch(f"{MAVEN}/org/apache/hadoop/hadoop-project/{hadoop}/hadoop-project-{hadoop}.pom")
    match = re.search(rb"<aws-java-sdk-v2.version>([^<]+)<", pom)
    if not match:
        sys.exit(f"hadoop-project {hadoop} POM names no aws-java-sdk-v2.version")
    return match.group(1).decode()


def cached_jar(group: str, artifact: str, version: str) -> Path:
    target = CACHE / f"{artifact}-{version}.jar"
    if target.is_file():
        return target
    url = f"{MAVEN}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"
    print(f"downloading {url}", file=sys.stderr)
    expected = fetch(url + ".sha1").decode().split()[0]
    partial = target.with_suffix(".part")
    CACHE.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1()
    with urllib.request.urlopen(url, timeout=600) as response, partial.open("wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != expected:
        partial.unlink()
        sys.exit(f"{url}: SHA-1 mismatch (got {digest.hexdigest()}, Maven says {expected})")
    partial.rename(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-link", action="store_true", help="only download into the cache")
    args = parser.parse_args()
    spark_jars = Path(pyspark.__file__).parent / "jars"
    hadoop = hadoop_version(spark_jars)
    jars = [
        cached_jar("org.apache.hadoop", "hadoop-aws", hadoop),
        cached_jar("software.amazon.awssdk", "bundle", aws_sdk_version(hadoop)),
        cached_jar("org.apache.spark", f"spark-hadoop-cloud_{scala_version(spark_jars)}",
                   pyspark.__version__),
    ]  # fmt: skip
    for jar in jars:
        link = spark_jars / jar.name
        if not args.no_link and not link.exists():
            link.symlink_to(jar)
        print(jar)


if __name__ == "__main__":
    main()
