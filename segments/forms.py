"""Forms of the segment pages; they check shape only (house rule 1).

The rule tree arrives from the builder as JSON in a hidden field; its meaning is checked
by segments.rules in the services, whose RuleError the builder shows at the node.
"""

from django import forms

from segments.enums import SegmentKind
from segments.json_text import MAX_JSON_DEPTH, RULE_TREE_HINT, NestedTooDeepError, load_json_text
from segments.models import Segment

NAME_MAX_LENGTH = Segment._meta.get_field("name").max_length
# An uploaded list of 2M ids is ~30 MB of CSV; larger lists go through the API in parts.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class SegmentForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Description"
    )
    kind = forms.ChoiceField(
        choices=SegmentKind.choices,
        initial=SegmentKind.DYNAMIC,
        widget=forms.RadioSelect,
        help_text="A snapshot freezes the customers matching the rules when it is saved and "
        "at each refresh; a dynamic segment is evaluated whenever it is used.",
    )
    rules = forms.CharField(widget=forms.HiddenInput, required=False)

    def clean_rules(self):
        text = self.cleaned_data["rules"]
        if not text.strip():
            raise forms.ValidationError("Add at least one condition.")
        try:
            rules = load_json_text(text)
        except NestedTooDeepError:
            raise forms.ValidationError(
                f"The rules are nested more than {MAX_JSON_DEPTH} levels deep ({RULE_TREE_HINT})."
            ) from None
        except ValueError:
            raise forms.ValidationError("The rules are not valid JSON.") from None
        if not isinstance(rules, dict):
            raise forms.ValidationError("The rules must be a JSON object.")
        return rules


class SnapshotUploadForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Description"
    )
    file = forms.FileField(
        label="Customer ids (CSV)",
        help_text="One customer id per line, or a CSV whose first line has a customer_id "
        "column. Unknown ids are listed; the known ones are stored.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB."
            )
        return upload
