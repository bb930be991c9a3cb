"""Every key of an Azure Container Apps job file (`az containerapp job create --yaml`) is a field of Microsoft's own
Job model (azure-mgmt-appcontainers), at the place the model has it: a misspelt or misplaced key, which the service
would ignore or refuse, is printed, and the exit status is 1. Run by backup-cli/src/deploy_examples.rs."""
import sys
import yaml
from azure.mgmt.appcontainers import models


def fields(instance):
    return {f._rest_name: (name, f) for name, f in instance._attr_to_rest_field.items()}


def check(value, cls, path, problems):
    if not isinstance(value, dict):
        problems.append(f"{path}: expected an object for {cls.__name__}")
        return
    instance = cls(value)
    known = fields(instance)
    for key, item in value.items():
        if key not in known:
            problems.append(f"{path}/{key}: not a field of {cls.__name__}")
            continue
        name, _ = known[key]
        typed = getattr(instance, name)
        if hasattr(typed, "_attr_to_rest_field"):
            check(item, type(typed), f"{path}/{key}", problems)
        elif isinstance(typed, list):
            for i, (raw, t) in enumerate(zip(item, typed)):
                if hasattr(t, "_attr_to_rest_field"):
                    check(raw, type(t), f"{path}/{key}[{i}]", problems)


problems = []
for file in sys.argv[1:]:
    doc = yaml.safe_load(open(file))
    check(doc, models.Job, file, problems)
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
