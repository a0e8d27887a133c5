"""The request-info form: field names and labels are the public contract."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from markupsafe import Markup
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.widgets import Select, html_params

from ...core.errors import ValidationFailed
from ...core.intake import validation as v
from ...core.intake.catalog import ProgramInfo
from ...core.intake.inquiry import CHECKBOX_FALSE_VALUES, FIELDS, SMS_OPT_IN_TEXT, UTM_FIELDS
from ..forms import BaseForm, select_choices


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
