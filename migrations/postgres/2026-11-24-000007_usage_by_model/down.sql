DROP TABLE usage_model_daily;
