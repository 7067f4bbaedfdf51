"""The town as data: hierarchy, people, devices, departments; validation and point location.

Nothing is read at import; call :func:`load_town` or :func:`load_hierarchy`.
"""

from gridwatch.configfile import Problem
from gridwatch.town.errors import TownConfigError, TownError
from gridwatch.town.hierarchy import Area, Contact, Hierarchy, Location, derived_person_id
from gridwatch.town.load import check_path, load_hierarchy, load_town
from gridwatch.town.models import Department, Device, HomographyPoint, Person, Post
from gridwatch.town.town import Town

__all__ = [
    "Area",
    "Contact",
    "Department",
    "Device",
    "Hierarchy",
    "HomographyPoint",
    "Location",
    "Person",
    "Post",
    "Problem",
    "Town",
    "TownConfigError",
    "TownError",
    "check_path",
    "derived_person_id",
    "load_hierarchy",
    "load_town",
]
