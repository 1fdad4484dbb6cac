"""The signed-in user, as the session describes them."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class User:
    """A user known from their session; ``id`` is the session subject."""

    id: str
    name: str | None = None
    email: str | None = None
    image: str | None = None

    def to_event_data(self) -> dict[str, str]:
        """The user as events carry it: the id and only the attributes the session holds."""
        data = {"id": self.id}
        if self.name is not None:
            data["name"] = self.name
        if self.email is not None:
            data["email"] = self.email
        if self.image is not None:
            data["image"] = self.image
        return data
