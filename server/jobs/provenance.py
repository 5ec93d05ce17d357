"""Which models a job's calls go to, and what a researcher must be told before it runs: above
all that the offline baseline (rules and keywords, not a language model) would answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from server.llm.factory import OFFLINE, ModelChoice
from server.schema.models import Prompt, Variable

BASELINE = "the offline baseline (rules and keywords, not a language model)"


@dataclass(frozen=True)
class JobModels:
    """The project's model (recorded on the job; it lists an entity project's entities) and
    the model of each variable's active prompt version (which answers that variable)."""

    project: ModelChoice
    variables: Mapping[str, ModelChoice]
    entity_level: bool

    @classmethod
    def of(
        cls,
        project: ModelChoice,
        variables: Sequence[Variable],
        active_prompts: Sequence[Prompt],
        *,
        entity_level: bool,
    ) -> JobModels:
        names = {variable.id: variable.name for variable in variables}
        return cls(
            project=project,
            variables={
                names[prompt.variable_id]: ModelChoice(prompt.provider, prompt.model)
                for prompt in active_prompts
                if prompt.variable_id in names
            },
            entity_level=entity_level,
        )

    @property
    def baseline_variables(self) -> list[str]:
        return [name for name, model in self.variables.items() if model.provider == OFFLINE]

    @property
    def baseline_answers(self) -> bool:
        """Whether the baseline would answer any of the job's calls."""
        return bool(self.baseline_variables) or (
            self.entity_level and self.project.provider == OFFLINE
        )

    def warnings(self, baseline_allowed: bool) -> tuple[str, ...]:
        if not self.baseline_answers:
            return ()
        names = self.baseline_variables
        entities = self.entity_level and self.project.provider == OFFLINE
        if len(names) == len(self.variables) and (entities or not self.entity_level):
            which = "answers every call of this job"
        else:
            parts = []
            if names:
                parts.append(
                    f"answers the variables {', '.join(names)} (their active prompt versions "
                    "were made for it: regenerate them for the project's model)"
                )
            if entities:
                parts.append("lists the entities of the documents")
            which = " and ".join(parts)
        warning = (
            f"{BASELINE[0].upper()}{BASELINE[1:]} {which}. Its values are a floor to compare "
            "models against, not a model's reading; configure a model (LLM_API_KEY or "
            "LLM_BASE_URL on the server) to code with one."
        )
        if not baseline_allowed:
            warning += f" {FORBIDDEN}"
        return (warning,)


FORBIDDEN = (
    "This server does not allow the offline baseline to answer "
    "(LLM_ALLOW_OFFLINE_BASELINE=false): a job it would answer is refused."
)
