"""The unchanged `hopsworks` SDK (5.2.1, from PyPI) against a live `hops serve --tls`:
login, projects, credentials, datasets (both path forms, a chunked parallel upload),
Kafka topics, and the SDK's error envelope."""

from __future__ import annotations

from tests.sdk.conftest import RunSdk, SdkServer


def test_login_projects_and_credentials(run_sdk: RunSdk, sdk_server: SdkServer):
    run = run_sdk(
        """
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import pkcs12

        folder = os.environ["SDK_CERT_FOLDER"]
        password = open(os.path.join(folder, "material_passwd")).read().encode()
        keystore = pkcs12.load_pkcs12(
            open(os.path.join(folder, "keyStore.jks"), "rb").read(), password
        )
        truststore = pkcs12.load_pkcs12(
            open(os.path.join(folder, "trustStore.jks"), "rb").read(), password
        )
        pem = open(os.path.join(folder, "client_cert.pem"), "rb").read()
        cert = x509.load_pem_x509_certificate(pem)
        result = {
            "name": project.name,
            "id": project.id,
            "current": hopsworks.get_current_project().name,
            "keystore_cn": keystore.cert.certificate.subject.rfc4514_string(),
            "client_cn": cert.subject.rfc4514_string(),
            "trusted": len(truststore.additional_certs),
            "has_key": keystore.key is not None,
            "ca_chain": open(os.path.join(folder, "ca_chain.pem")).read().count("BEGIN"),
        }
        hopsworks.create_project("sdkmade", description="made by the SDK")
        other = hopsworks.login(
            host=os.environ["SDK_HOST"],
            port=int(os.environ["SDK_PORT"]),
            project="sdkmade",
            api_key_value=os.environ["SDK_API_KEY"],
            hostname_verification=False,
            engine="python",
            cert_folder=folder + "_sdkmade",
        )
        result["made"] = [other.name, other.description]
        """
    )
    info = sdk_server.api.get(f"/api/projects/{sdk_server.project}").json()
    assert run.result["name"] == run.result["current"] == sdk_server.project
    assert run.result["id"] == info["id"]
    # one password opens both PKCS#12 stores; the certificate is the member's own
    assert run.result["keystore_cn"] == run.result["client_cn"]
    assert f"{sdk_server.project}__" in run.result["client_cn"]
    assert run.result["has_key"] and run.result["trusted"] >= 1 and run.result["ca_chain"] >= 1
    assert run.result["made"] == ["sdkmade", "made by the SDK"]


def test_datasets_in_both_path_forms(run_sdk: RunSdk, sdk_server: SdkServer):
    """25 MiB go up as three 10 MiB-or-less chunks, sent three at a time (so in parallel,
    arriving in any order), and come back byte for byte."""
    run = run_sdk(
        """
        import hashlib
        data = os.urandom(25 * 1024 * 1024 + 123)
        with open("big.bin", "wb") as out:
            out.write(data)
        absolute = f"/Projects/{project.name}/Resources/sdk"
        datasets = project.get_dataset_api()
        result = {"made": datasets.mkdir("Resources/sdk/inner")}
        result["exists"] = [datasets.exists("Resources/sdk"), datasets.exists(absolute)]
        result["uploaded"] = datasets.upload("big.bin", "Resources/sdk")
        result["listed"] = datasets.list("Resources/sdk")
        result["listed_abs"] = datasets.list(absolute)
        result["root"] = datasets.list("/")
        result["size"] = datasets.get(absolute + "/big.bin")["attributes"]["size"]
        os.mkdir("down")
        for name, path in (("relative", "Resources/sdk/big.bin"), ("absolute", absolute + "/big.bin")):
            local = datasets.download(path, f"down/{name}.bin")
            result[name] = hashlib.sha256(open(local, "rb").read()).hexdigest()
        result["sent"] = hashlib.sha256(data).hexdigest()
        for text in ("first", "second"):  # overwrite: the SDK checks the policy, removes, uploads
            with open("small.txt", "w") as out:
                out.write(text)
            datasets.upload("small.txt", absolute, overwrite=True)
        result["overwritten"] = open(datasets.download(absolute + "/small.txt", "down/")).read()
        datasets.remove(absolute + "/big.bin")
        datasets.remove("Resources/sdk")
        result["gone"] = [datasets.exists("Resources/sdk/big.bin"), datasets.exists(absolute)]
        """
    )
    r = run.result
    base = f"/Projects/{sdk_server.project}/Resources/sdk"
    assert r["made"] == f"{base}/inner"
    assert r["exists"] == [True, True]
    assert r["uploaded"] == "Resources/sdk/big.bin"
    assert r["listed"] == r["listed_abs"] == ["/Resources/sdk/big.bin", "/Resources/sdk/inner"]
    assert {"/Resources", "/Jupyter", "/Logs", "/Models"} <= set(r["root"])
    assert r["size"] == 25 * 1024 * 1024 + 123
    assert r["relative"] == r["absolute"] == r["sent"]
    assert r["overwritten"] == "second"
    assert r["gone"] == [False, False]


def test_topics_and_errors(run_sdk: RunSdk, sdk_server: SdkServer):
    run = run_sdk(
        """
        from hopsworks.client.exceptions import RestAPIError

        kafka = project.get_kafka_api()
        made = kafka.create_topic("sdk_events", "sdk_schema", 1, replicas=1, partitions=2)
        result = {
            "made": [made.name, made.partitions],
            "listed": sorted(t.name for t in kafka.get_topics()),
            "found": kafka.get_topic("sdk_events").name,
            "brokers": kafka.get_default_config()["bootstrap.servers"],
        }
        try:
            project.get_dataset_api().remove("Resources/no/such/file")
        except RestAPIError as error:
            result["error"] = [error.response.status_code, error.error_code, error.user_message]
        try:
            kafka.create_topic("sdk_events", "sdk_schema", 1)
        except RestAPIError as error:
            result["duplicate"] = [error.response.status_code, error.error_code]
        """
    )
    r = run.result
    assert r["made"] == ["sdk_events", 2]
    assert "sdk_events" in r["listed"] and r["found"] == "sdk_events"
    assert r["brokers"] == ""  # the embedded Kafka backend has no broker to reach
    assert r["error"][:2] == [404, 110008] and "no/such/file" in r["error"][2]
    assert r["duplicate"] == [409, 190002]
    topics = sdk_server.api.get(f"/api/projects/{sdk_server.project}/topics").json()
    assert "sdk_events" in [t["name"] for t in topics["items"]]
