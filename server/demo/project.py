"""The demo's research project: coastal protection plans in council minutes, a schema with one
variable of every type, and the sample documents shipped with the package."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from coderai.v1 import common_pb2, project_pb2, schema_pb2

SAMPLES_PACKAGE = "server.demo.samples"
SAMPLE_SUFFIXES = (".txt", ".html")


@dataclass(frozen=True)
class SampleDocument:
    filename: str
    content: bytes


def demo_project() -> project_pb2.Project:
    return project_pb2.Project(
        name="Coastal protection plans (demo)",
        description=(
            "What towns decide about protecting their coast: when a measure was approved, what "
            "it costs and what kind of protection it is."
        ),
        domain="municipal council minutes on coastal protection",
        language="en",
        unit_of_observation=common_pb2.UNIT_OF_OBSERVATION_DOCUMENT,
    )


def demo_variables(project_id: str) -> list[schema_pb2.Variable]:
    """The schema: one column of every variable type, in dataset order."""
    return [
        schema_pb2.Variable(
            project_id=project_id,
            name="approval_date",
            display_name="Approval date",
            type=common_pb2.VARIABLE_TYPE_DATE,
            instructions=(
                "The date on which the council approved the coastal protection measure. Leave "
                "it empty when the council did not approve the measure at this meeting."
            ),
        ),
        schema_pb2.Variable(
            project_id=project_id,
            name="budget_eur",
            display_name="Budget (EUR)",
            type=common_pb2.VARIABLE_TYPE_NUMBER,
            instructions=(
                "The total budget or cost of the coastal protection measure in euros, as a plain "
                "number with millions written out in full. Leave it empty when the minutes give "
                "no amount."
            ),
            validation_rules=schema_pb2.ValidationRules(min_value=0),
        ),
        schema_pb2.Variable(
            project_id=project_id,
            name="approved",
            display_name="Approved",
            type=common_pb2.VARIABLE_TYPE_BOOLEAN,
            instructions=(
                "Whether the council approved the coastal protection measure at this meeting: "
                "true if it was approved; false if it was rejected, postponed or referred back."
            ),
        ),
        schema_pb2.Variable(
            project_id=project_id,
            name="measure_type",
            display_name="Type of measure",
            type=common_pb2.VARIABLE_TYPE_CATEGORY,
            instructions="The kind of coastal protection measure the council discussed.",
            classification_rules=schema_pb2.ClassificationRules(
                categories=[
                    schema_pb2.Category(
                        label="hard defence",
                        definition=(
                            "Built structures that hold the sea back: sea walls, dikes, "
                            "groynes, revetments, rock armour, breakwaters or storm surge "
                            "barriers."
                        ),
                    ),
                    schema_pb2.Category(
                        label="nature-based",
                        definition=(
                            "Measures that work with natural processes: dune restoration, "
                            "beach nourishment, salt marshes, wetlands, oyster reefs or living "
                            "shorelines."
                        ),
                    ),
                    schema_pb2.Category(
                        label="managed retreat",
                        definition=(
                            "Moving people, buildings or infrastructure away from the coast: "
                            "relocating homes or roads, buying properties, setback lines."
                        ),
                    ),
                ],
                selection_logic=(
                    "When a scheme combines several kinds, choose the one that takes most of "
                    "the budget."
                ),
            ),
        ),
        schema_pb2.Variable(
            project_id=project_id,
            name="purpose",
            display_name="Purpose",
            type=common_pb2.VARIABLE_TYPE_TEXT,
            instructions=("The purpose of the measure in one sentence: what it protects, and how."),
            validation_rules=schema_pb2.ValidationRules(max_length=300),
        ),
    ]


def sample_documents() -> list[SampleDocument]:
    """The fictional council minutes in server/demo/samples, by filename."""
    folder = resources.files(SAMPLES_PACKAGE)
    return sorted(
        (
            SampleDocument(entry.name, entry.read_bytes())
            for entry in folder.iterdir()
            if entry.is_file() and entry.name.endswith(SAMPLE_SUFFIXES)
        ),
        key=lambda document: document.filename,
    )
