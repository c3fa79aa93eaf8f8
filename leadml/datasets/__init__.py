"""Example data: a synthetic CRM with ground truth, and loaders for public datasets."""

from leadml.datasets._synthetic import CRMData, make_crm

__all__ = ["CRMData", "make_crm"]
