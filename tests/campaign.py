"""A small campaign for tests: a manager, two teams with their coordinators, three leaders, a
viewer of one team and a viewer of the whole campaign."""

from django.contrib.auth.models import User

from campaigns.models import Membership, Role, Team

PASSWORD = "clave-segura-123"


def build_campaign() -> dict:
    def person(username, role, team=None, **extra):
        user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, **extra)
        Membership.objects.create(user=user, role=role, team=team)
        return user

    people = {"manager": person("gerente", Role.MANAGER)}
    people["coordinator"] = person("coord1", Role.COORDINATOR)
    people["coordinator2"] = person("coord2", Role.COORDINATOR)
    north = Team.objects.create(name="Norte", coordinator=people["coordinator"])
    south = Team.objects.create(name="Sur", coordinator=people["coordinator2"])
    people["owner"] = person("ana", Role.LEADER, north)
    people["teammate"] = person("lucia", Role.LEADER, north)
    people["outsider"] = person("pedro", Role.LEADER, south)
    people["viewer"] = person("vera", Role.VIEWER, north)
    people["viewer_all"] = person("vito", Role.VIEWER)
    return {"people": people, "north": north, "south": south}
