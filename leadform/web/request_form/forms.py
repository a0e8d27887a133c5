"""The request-info form: field names and labels are the public contract."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from markupsafe import Markup
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.widgets import Select, html_params

from ...core.errors import ValidationFailed
from ...core.intake import validation as v
from ...core.intake.catalog import ProgramInfo
from ...core.intake.inquiry import CHECKBOX_FALSE_VALUES, FIELDS, SMS_OPT_IN_TEXT, UTM_FIELDS
from ..forms import BaseForm, select_choices, strip_whitespace


@cache
def _country_options(selected: str) -> Markup:
    """The <option>s of the country list with one selected, built once per country."""
    option = Markup('<option {}value="{}">{}</option>')
    return Markup("").join(
        option.format(Markup("selected ") if code == selected else "", code, name)
        for code, name in v.country_choices()
    )


class CountrySelect(Select):
    """The country <select>: some 250 options, so their HTML is rendered once and reused.

    Rendering them field by field was most of the time it took to serve the form.
    """

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for name in self.validation_attrs:
            if name not in kwargs and getattr(flags, name, False):
                kwargs[name] = True
        selected = field.data if field.data in dict(v.country_choices()) else ""
        params = Markup(html_params(name=field.name, **kwargs))  # noqa: S704 - escaped by WTForms
        return Markup("<select {}>{}</select>").format(params, _country_options(selected))


class RequestInfoForm(BaseForm):
    """Request more information about a program."""

    first_name = StringField(
        "First name",
        render_kw={"autocomplete": "given-name", "maxlength": 100},
    )
    last_name = StringField(
        "Last name",
        render_kw={"autocomplete": "family-name", "maxlength": 100},
    )
    email = StringField(
        "Email",
        render_kw={
            "autocomplete": "email",
            "type": "email",
            "maxlength": 254,
            "spellcheck": "false",
        },
    )
    phone = StringField(
        "Phone",
        # Calls only: texts need the separate opt-in at the end of the form.
        description="Optional. A counselor may call you about your request.",
        render_kw={"autocomplete": "tel", "type": "tel", "maxlength": 32},
    )
    postal_code = StringField(
        "ZIP code",  # "Postal code" outside the US: see __init__ and static/js/forms.js
        render_kw={"autocomplete": "postal-code", "maxlength": 12},
    )
    country = SelectField(
        "Country",
        choices=lambda: select_choices(v.country_choices()),
        default="US",
        validate_choice=False,
        widget=CountrySelect(),
        render_kw={"autocomplete": "country"},
    )
    program = SelectField(
        "Program of interest",
        validate_choice=False,
    )
    start_term = SelectField(
        "Preferred start",
        choices=lambda: select_choices(v.start_terms(), blank="Select a term"),
        validate_choice=False,
    )
    education_level = SelectField(
        "Highest level of education",
        choices=select_choices(v.EDUCATION_LEVELS, blank="Select one"),
        validate_choice=False,
    )
    military = SelectField(
        "Military affiliation",
        choices=select_choices(v.MILITARY_AFFILIATIONS, blank="Select one"),
        validate_choice=False,
    )
    comments = TextAreaField(
        "Questions or comments",
        description="Optional. Up to 2,000 characters.",
        render_kw={"rows": 4, "maxlength": 2000},
    )
    consent = BooleanField(
        "I agree to be contacted.",  # replaced by the active consent text when rendered
        false_values=CHECKBOX_FALSE_VALUES,
    )
    sms_opt_in = BooleanField(
        SMS_OPT_IN_TEXT,  # the wording a submission that opted in keeps as evidence
        false_values=CHECKBOX_FALSE_VALUES,
    )

    utm_source = HiddenField()
    utm_medium = HiddenField()
    utm_campaign = HiddenField()
    utm_term = HiddenField()
    utm_content = HiddenField()
    form_token = HiddenField()
    # Honeypot: hidden from people, filled in by bots.
    website = StringField("Website", render_kw={"autocomplete": "off", "tabindex": "-1"})

    def __init__(self, *args: Any, programs: Sequence[ProgramInfo], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.programs = {p.slug: p for p in programs}
        self.program.choices = select_choices(
            ((p.slug, p.name) for p in programs), blank="Select a program"
        )
        # The label follows the country chosen (or sent): "ZIP code" for the US.
        self.postal_code.label.text = v.postal_code_label(self.country.data)

    #: Countries whose postal code is a ZIP code (the script switches the label by these).
    zip_code_countries = " ".join(sorted(v.ZIP_CODE_COUNTRIES))

    def fields_sent(self) -> dict[str, Any]:
        """The request-info fields as submitted (spaces trimmed), for the core's rules."""
        return {name: self[name].data for name in FIELDS}

    def show_errors(self, failed: ValidationFailed) -> None:
        """Put the core's messages next to their fields (the error summary lists them)."""
        for name, messages in failed.errors.items():
            self[name].errors = list(messages)

    def utm(self) -> dict[str, str]:
        """The attribution fields as submitted."""
        return {name: getattr(self, name).data or "" for name in UTM_FIELDS}


class FormData(Protocol):
    """What a POST's form data offers (Werkzeug's MultiDict): every value sent for a name."""

    def getlist(self, key: str) -> list[Any]: ...


@dataclass(frozen=True)
class Sent:
    """A request-info POST's fields as RequestInfoForm reads them, without building the form.

    Building the WTForms form (some twenty bound fields, a CSRF field that signs a new
    token) cost as much CPU as validating the request; a POST that is stored never renders
    it. The doors build the form only to show it again (errors, a stale token).
    """

    #: The request-info fields (inquiry.FIELDS) with the values the form's fields would hold.
    fields: dict[str, Any]
    #: The honeypot, as text.
    website: str
    #: The attribution fields, as text.
    utm: dict[str, str]


def _field_reader(name: str) -> Callable[[FormData], Any]:
    """How RequestInfoForm's field `name` turns form data into its value, as WTForms does.

    Field.process on a POST: the default (coerced by a SelectField), replaced by the first
    value sent when there is one; a BooleanField is False unless a value not in its
    false_values was sent; then the filters (BaseForm adds strip_whitespace to every field).
    tests/test_form_rules.py checks this against the form itself.
    """
    unbound = getattr(RequestInfoForm, name)
    kwargs = unbound.kwargs
    filters = (strip_whitespace, *kwargs.get("filters", ()))
    if issubclass(unbound.field_class, BooleanField):
        false_values = kwargs.get("false_values", BooleanField.false_values)

        def boolean(formdata: FormData) -> Any:
            values = formdata.getlist(name)
            return bool(values) and values[0] not in false_values

        return boolean
    if not issubclass(unbound.field_class, (StringField, SelectField)):  # pragma: no cover
        raise TypeError(f"no reader for {unbound.field_class.__name__} {name}")
    coerce = kwargs.get("coerce", str) if issubclass(unbound.field_class, SelectField) else None
    default = kwargs.get("default")
    if default is not None and coerce is not None:
        default = coerce(default)

    def text(formdata: FormData) -> Any:
        values = formdata.getlist(name)
        value = (coerce(values[0]) if coerce is not None else values[0]) if values else default
        for apply in filters:
            value = apply(value)
        return value

    return text


@cache
def _readers() -> tuple[tuple[str, Callable[[FormData], Any]], ...]:
    names = (*FIELDS, "website", *UTM_FIELDS)
    return tuple((name, _field_reader(name)) for name in names)


def read_sent(formdata: FormData) -> Sent:
    """The POST's request-info fields, honeypot and attribution as RequestInfoForm reads them."""
    values = {name: read(formdata) for name, read in _readers()}
    return Sent(
        fields={name: values[name] for name in FIELDS},
        website=values["website"] or "",
        utm={name: values[name] or "" for name in UTM_FIELDS},
    )
