"""AWS's answers for prices, in their documented shapes: a Price List API GetProducts ``PriceList`` entry (a JSON
string per product, https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/price-changes.html) and EC2
DescribeSpotPriceHistory entries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def product(instance_type: str, vcpus: int, memory_gib: str, usd: str, gpus: int = 0) -> str:
    sku = f"SKU{abs(hash(instance_type)) % 10**8:08d}"
    return json.dumps(
        {
            "product": {
                "productFamily": "Compute Instance",
                "attributes": {
                    "instanceType": instance_type,
                    "vcpu": str(vcpus),
                    "memory": f"{memory_gib} GiB",
                    **({"gpu": str(gpus)} if gpus else {}),
                    "regionCode": "us-east-1",
                    "operatingSystem": "Linux",
                    "tenancy": "Shared",
                    "preInstalledSw": "NA",
                    "capacitystatus": "Used",
                },
                "sku": sku,
            },
            "serviceCode": "AmazonEC2",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "pricePerUnit": {"USD": usd},
                                "description": f"${usd} per On Demand Linux {instance_type} Instance Hour",
                            }
                        },
                        "sku": sku,
                        "offerTermCode": "JRTCKXETXF",
                    }
                }
            },
            "version": "20261201000000",
            "publicationDate": "2026-12-01T00:00:00Z",
        }
    )


def spot(instance_type: str, zone: str, usd: str, at: datetime) -> dict[str, Any]:
    return {
        "AvailabilityZone": zone,
        "InstanceType": instance_type,
        "ProductDescription": "Linux/UNIX",
        "SpotPrice": usd,
        "Timestamp": at,
    }


T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
