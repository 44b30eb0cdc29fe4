"""Bring your own container: which image, role, platform and volumes a job may ask for (the operator's allow-lists),
and the job definition that runs it, named by a hash of its content. Pure: no boto3, no clock, no environment.

AWS Batch's SubmitJob cannot override a job's image, role or volumes, so a job with ``image`` runs on a job definition
batchplane registers for it. Two jobs whose definitions would be the same share one: the definition's name is
"<stack>_img_<sha256 of its content>", so the name alone says whether it exists (README, "Your own image")."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from batchplane.domain.errors import FieldError, InvalidRequestError
from batchplane.domain.models import JobRequest, Platform

# Fargate takes only these vCPU / memory (MiB) pairs (AWS Batch API reference, ResourceRequirement: "type=MEMORY ...
# for jobs that are running on Fargate resources"). batchplane's vcpus is a whole number, so 0.25 and 0.5 are not here.
FARGATE_MEMORY_MIB: dict[int, tuple[int, ...]] = {
    1: tuple(range(2048, 8192 + 1, 1024)),
    2: tuple(range(4096, 16384 + 1, 1024)),
    4: tuple(range(8192, 30720 + 1, 1024)),
    8: tuple(range(16384, 61440 + 1, 4096)),
    16: tuple(range(32768, 122880 + 1, 8192)),
}
DEFAULT_VCPUS = 1
DEFAULT_MEMORY_MIB = 2048  # the sample definition's, and Fargate's smallest for 1 vCPU
DEFINITION_INFIX = "_img_"  # stack names have no "_": "<stack>_img_" starts this stack's definitions and no other's
_HASH_CHARS = 32  # 128 bits of sha256: names stay well under Batch's 128 characters whatever the stack's name


@dataclass(frozen=True, slots=True)
class Volume:
    """A volume the operator declared (template: EfsFileSystemId, SharedVolumePath): EFS, encrypted in transit."""

    name: str
    file_system_id: str
    container_path: str
    access_point_id: str | None = None


@dataclass(frozen=True, slots=True)
class ContainerPolicy:
    """What the operator allows: image registries (prefixes), job roles (exact ARNs), volumes, and Fargate."""

    stack: str
    registries: tuple[str, ...] = ()
    job_roles: frozenset[str] = frozenset()
    volumes: dict[str, Volume] = field(default_factory=dict)
    fargate: bool = False
    execution_role_arn: str = ""  # the template's Fargate task execution role (pulls the image, writes the logs)

    def check(self, request: JobRequest) -> None:
        """422 naming each field the operator does not allow (or that the platform cannot run)."""
        errors = [*self._image_errors(request), *self._platform_errors(request)]
        if errors:
            raise InvalidRequestError("the job's container is not allowed in this deployment", errors=errors)

    def _image_errors(self, request: JobRequest) -> list[FieldError]:
        errors: list[FieldError] = []
        if request.image is None:
            for name, given in (("jobRoleArn", request.job_role_arn), ("volumes", request.volumes or None)):
                if given is not None:
                    errors.append(FieldError(name, "only with `image` (a declared job definition has its own)"))
            if request.platform is Platform.FARGATE:
                errors.append(FieldError("platform", "fargate needs `image` (the declared definitions are EC2)"))
            return errors
        if request.job_definition is not None:
            errors.append(FieldError("jobDefinition", "give either `image` or `jobDefinition`, not both"))
        if not any(request.image.startswith(prefix) for prefix in self.registries):
            allowed = ", ".join(self.registries) or "none (AllowedImageRegistries is empty)"
            errors.append(FieldError("image", f"not from a registry this deployment allows ({allowed})"))
        if request.job_role_arn is not None and request.job_role_arn not in self.job_roles:
            errors.append(FieldError("jobRoleArn", "not a job role this deployment allows (AllowedJobRoleArns)"))
        unknown = [v for v in request.volumes if v not in self.volumes]
        if unknown:
            declared = ", ".join(sorted(self.volumes)) or "none"
            errors.append(
                FieldError("volumes", f"not declared in this deployment: {unknown[0]} (declared: {declared})")
            )
        if request.nodes is not None:
            errors.append(FieldError("nodes", "multi-node parallel jobs run only on a declared job definition"))
        return errors

    def _platform_errors(self, request: JobRequest) -> list[FieldError]:
        if request.platform is not Platform.FARGATE:
            return []
        if not self.fargate:
            return [FieldError("platform", "Fargate is not turned on in this deployment (EnableFargate)")]
        errors: list[FieldError] = []
        if request.gpus:
            errors.append(FieldError("gpus", "Fargate has no GPUs"))
        vcpus = request.vcpus or DEFAULT_VCPUS
        memory = request.memory_mi_b or DEFAULT_MEMORY_MIB
        if vcpus not in FARGATE_MEMORY_MIB:
            errors.append(FieldError("vcpus", f"Fargate takes {', '.join(map(str, FARGATE_MEMORY_MIB))} vCPUs"))
        elif memory not in FARGATE_MEMORY_MIB[vcpus]:
            pairs = FARGATE_MEMORY_MIB[vcpus]
            step = pairs[1] - pairs[0]
            errors.append(
                FieldError(
                    "memoryMiB", f"Fargate with {vcpus} vCPU takes {pairs[0]}-{pairs[-1]} MiB in steps of {step}"
                )
            )
        return errors

    def definition(self, request: JobRequest) -> DefinitionSpec:
        """The job definition that runs ``request``'s container (call :meth:`check` first)."""
        if request.image is None:
            msg = "definition() needs a request with an image"
            raise ValueError(msg)
        fargate = request.platform is Platform.FARGATE
        container: dict[str, Any] = {
            "image": request.image,
            "resourceRequirements": [
                {"type": "VCPU", "value": str(request.vcpus or DEFAULT_VCPUS)},
                {"type": "MEMORY", "value": str(request.memory_mi_b or DEFAULT_MEMORY_MIB)},
            ],
            "privileged": False,  # never: batchplane registers no privileged container (and no host volume)
        }
        if request.job_role_arn:
            container["jobRoleArn"] = request.job_role_arn
        volumes = [self.volumes[v] for v in sorted(set(request.volumes))]
        if fargate:
            container["executionRoleArn"] = self.execution_role_arn
            # EFS needs Fargate 1.4.0, and Batch has refused "LATEST" with an EFS volume ("EFS is supported for Fargate
            # platform version 1.4.0": aws-cloudformation/cloudformation-coverage-roadmap#1268): pin it then
            container["fargatePlatformConfiguration"] = {"platformVersion": "1.4.0" if volumes else "LATEST"}
            container["networkConfiguration"] = {"assignPublicIp": "DISABLED"}
        if volumes:
            container["volumes"] = [{"name": v.name, "efsVolumeConfiguration": _efs(v)} for v in volumes]
            container["mountPoints"] = [
                {"sourceVolume": v.name, "containerPath": v.container_path, "readOnly": False} for v in volumes
            ]
        body: dict[str, Any] = {
            "type": "container",
            "platformCapabilities": ["FARGATE" if fargate else "EC2"],
            "containerProperties": container,
            # batchplane owns retries: Batch's own is one attempt, as for every job we submit
            "retryStrategy": {"attempts": 1},
            "propagateTags": True,
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        name = f"{self.stack}{DEFINITION_INFIX}{digest[:_HASH_CHARS]}"
        return DefinitionSpec(name=name, body={"jobDefinitionName": name, **body})


def _efs(volume: Volume) -> dict[str, Any]:
    out: dict[str, Any] = {"fileSystemId": volume.file_system_id, "transitEncryption": "ENABLED"}
    if volume.access_point_id:  # an access point needs IAM authorization on and its root directory left unset
        out["authorizationConfig"] = {"accessPointId": volume.access_point_id, "iam": "ENABLED"}
    return out


@dataclass(frozen=True, slots=True)
class DefinitionSpec:
    """A job definition batchplane registers: its content-hash name and RegisterJobDefinition's arguments."""

    name: str
    body: dict[str, Any]

    @property
    def image(self) -> str:
        return str(self.body["containerProperties"]["image"])

    @property
    def platform(self) -> str:
        return str(self.body["platformCapabilities"][0]).lower()


def fargate_memory(vcpus: int | None, wanted: int) -> int:
    """The Fargate memory for ``vcpus`` that holds ``wanted`` MiB: the smallest allowed value at or above it, or the
    largest Fargate offers with that many vCPUs (a memory escalation on Fargate must land on an allowed pair)."""
    allowed = FARGATE_MEMORY_MIB.get(vcpus or DEFAULT_VCPUS, FARGATE_MEMORY_MIB[DEFAULT_VCPUS])
    return next((m for m in allowed if m >= wanted), allowed[-1])


def is_registered_name(name: str, stack: str) -> bool:
    """Whether a job-definition name is one batchplane registers for ``stack``."""
    return name.startswith(f"{stack}{DEFINITION_INFIX}")


def pick_revision(found: list[dict[str, Any]]) -> str | None:
    """Of a name's ACTIVE revisions (two racing registrations may make two), the one every submitter uses: the
    lowest, so all converge on one definition whatever the race did."""
    active = [d for d in found if d.get("status", "ACTIVE") == "ACTIVE" and d.get("jobDefinitionArn")]
    if not active:
        return None
    return str(min(active, key=lambda d: int(d.get("revision", 0)))["jobDefinitionArn"])
