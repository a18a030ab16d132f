"""Forms of the customer-data pages; they check shape only (house rule 1)."""

from django import forms

from crm.enums import ImportKind

# The upload streams to disk (FILE_UPLOAD_MAX_MEMORY_SIZE); past this size the command
# line is the better tool, and the web worker is not tied up for minutes.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label="The file holds", choices=ImportKind.choices)
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV whose first line is the header (column names below).",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".txt")):
            raise forms.ValidationError("Choose a .csv file (in Excel: Save As, then CSV UTF-8).")
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1024 / 1024:,.0f} MB; the page takes up to "
                f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB. Use manage.py import_* for larger files."
            )
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        return upload
