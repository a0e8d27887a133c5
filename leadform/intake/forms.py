"""The request-info form: field names and labels are the public contract (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from flask import current_app
from markupsafe import Markup
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import ValidationError
from wtforms.widgets import Select, html_params

from ..forms import BaseForm, select_choices
from ..models import Program
from . import validation as v
from .catalog_cache import ProgramInfo
from .service import AS_SUBMITTED_FIELDS, CHECKBOX_FALSE_VALUES, UTM_FIELDS, Inquiry


def _rule(func: Any) -> Any:
    """Turn a validation function that raises FieldError into a WTForms validator."""

    def validator(form: Any, field: Any) -> None:
        try:
            func(form, field)
        except v.FieldError as exc:
            raise ValidationError(str(exc)) from None

    return validator


def _text(max_length: int, *, multiline: bool = False) -> Any:
    return _rule(
        lambda form, field: v.check_text(
            field.data or "", max_length=max_length, multiline=multiline
        )
    )


def _clean(func: Any) -> Any:
    """A validator that keeps the cleaned value on the form (form.cleaned[field name]).

    inquiry() reads the values from there, so each field is parsed once, by its validator.
    """

    def clean(form: Any, field: Any) -> None:
        form.cleaned[field.name] = func(form, field)

    return _rule(clean)


def _choice(choices_of: Any, message: str) -> Any:
    def check(form: Any, field: Any) -> None:
        if field.data and field.data not in choices_of():
            raise v.FieldError(message)

    return _rule(check)


@cache
def _keys(pairs: tuple[tuple[str, str], ...]) -> frozenset[str]:
    """The values of a fixed list of (value, label) choices, as a set."""
    return frozenset(value for value, _label in pairs)


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
        validators=[_clean(lambda f, field: v.clean_name(field.data or "", "First name"))],
        render_kw={"autocomplete": "given-name", "maxlength": 100},
    )
    last_name = StringField(
        "Last name",
        validators=[_clean(lambda f, field: v.clean_name(field.data or "", "Last name"))],
        render_kw={"autocomplete": "family-name", "maxlength": 100},
    )
    email = StringField(
        "Email",
        validators=[_clean(lambda f, field: f.clean_email(field))],
        render_kw={
            "autocomplete": "email",
            "type": "email",
            "maxlength": 254,
            "spellcheck": "false",
        },
    )
    phone = StringField(
        "Phone",
        description="Optional. We may call or text about your request.",
        validators=[_clean(lambda f, field: v.clean_phone(field.data or "", f.country.data))],
        render_kw={"autocomplete": "tel", "type": "tel", "maxlength": 32},
    )
    postal_code = StringField(
        "ZIP code",
        validators=[_clean(lambda f, field: v.clean_postal_code(field.data or "", f.country.data))],
        render_kw={"autocomplete": "postal-code", "maxlength": 12},
    )
    country = SelectField(
        "Country",
        choices=lambda: select_choices(v.country_choices()),
        default="US",
        validate_choice=False,
        widget=CountrySelect(),
        validators=[
            _text(2),
            _choice(lambda: _keys(v.country_choices()), "Choose a country from the list."),
        ],
        render_kw={"autocomplete": "country"},
    )
    program = SelectField(
        "Program of interest",
        validate_choice=False,
        validators=[_rule(lambda f, field: f.check_program(field))],
    )
    start_term = SelectField(
        "Preferred start",
        choices=lambda: select_choices(v.start_terms(), blank="Select a term"),
        validate_choice=False,
        validators=[
            _text(20),
            _rule(lambda f, field: f.check_start_term(field)),
        ],
    )
    education_level = SelectField(
        "Highest level of education",
        choices=select_choices(v.EDUCATION_LEVELS, blank="Select one"),
        validate_choice=False,
        validators=[
            _text(30),
            _choice(lambda: _keys(v.EDUCATION_LEVELS), "Choose one from the list."),
        ],
    )
    military = SelectField(
        "Military affiliation",
        choices=select_choices(v.MILITARY_AFFILIATIONS, blank="Select one"),
        validate_choice=False,
        validators=[
            _text(30),
            _choice(lambda: _keys(v.MILITARY_AFFILIATIONS), "Choose one from the list."),
        ],
    )
    comments = TextAreaField(
        "Questions or comments",
        description="Optional. Up to 2,000 characters.",
        validators=[_text(2000, multiline=True)],
        render_kw={"rows": 4, "maxlength": 2000},
    )
    consent = BooleanField(
        "I agree to be contacted.",  # replaced by the active consent text when rendered
        false_values=CHECKBOX_FALSE_VALUES,
    )
    sms_opt_in = BooleanField(
        "Text me about my request (message and data rates may apply).",
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

    def __init__(
        self, *args: Any, programs: Sequence[Program | ProgramInfo], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.programs = {p.slug: p for p in programs}
        self.program.choices = select_choices(
            ((p.slug, p.name) for p in programs), blank="Select a program"
        )
        #: What the validators made of the input, by field name (see _clean).
        self.cleaned: dict[str, Any] = {}

    def clean_email(self, field: Any) -> tuple[str, str]:
        """Validate the address; (address as stored, normalized key for dedupe)."""
        return v.clean_email(
            field.data or "",
            check_deliverability=current_app.config["EMAIL_CHECK_DELIVERABILITY"],
        )

    def check_program(self, field: Any) -> None:
        """The program must be one of the active programs."""
        if not field.data:
            raise v.FieldError("Choose the program you're interested in.")
        if field.data not in self.programs:
            raise v.FieldError("Choose a program from the list.")

    def check_start_term(self, field: Any) -> None:
        """Empty, "undecided" or an upcoming term."""
        # Offered within a form token's lifetime (a form older than that is sent back).
        grace = -(-current_app.config["FORM_TOKEN_MAX_AGE"] // 86400)
        if field.data and not v.valid_start_term(field.data, grace_days=grace):
            raise v.FieldError("Choose a start term from the list.")

    def validate_consent(self, field: Any) -> None:
        """Consent is required: we never contact anyone without it."""
        if not field.data:
            raise ValidationError("Check this box so we may contact you about the program.")

    def inquiry(self) -> Inquiry:
        """The validated input as an Inquiry; call only after validate() returned True."""
        cleaned = self.cleaned
        email, email_normalized = cleaned["email"]
        return Inquiry(
            first_name=cleaned["first_name"],
            last_name=cleaned["last_name"],
            email=email,
            email_normalized=email_normalized,
            program=self.programs[self.program.data],
            consent=bool(self.consent.data),
            phone=self.phone.data or "",
            phone_e164=cleaned["phone"],
            postal_code=cleaned["postal_code"],
            country=self.country.data or None,
            start_term=self.start_term.data or "",
            education_level=self.education_level.data or "",
            military=self.military.data or "",
            comments=self.comments.data or "",
            sms_opt_in=bool(self.sms_opt_in.data),
            as_submitted={name: self[name].data or "" for name in AS_SUBMITTED_FIELDS},
        )

    def utm(self) -> dict[str, str]:
        """The attribution fields as submitted."""
        return {name: getattr(self, name).data or "" for name in UTM_FIELDS}
