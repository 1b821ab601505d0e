"""Stage 02 logic: backbones, albumentations augmentation, resumable fine-tuning."""
