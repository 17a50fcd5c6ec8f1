"""The states a stored record goes through, as the tables hold them (Chinese: what staff and units read).

Plain constants, apart from :mod:`pipeline.store.tables` (the ORM's), so that the listings' SQL
(:mod:`pipeline.services.listings`) names them without importing SQLAlchemy.
"""

BACKPAY_ENTERED = "未分配"
BACKPAY_DELETED = "已删除"

REMIT_UNPAID = "未入账"
REMIT_PAID = "已入账"
REMIT_DELETED = "已删除"

REVIEW_PENDING = "待审核"
REVIEW_APPROVED = "审核通过"
REVIEW_RETURNED = "退回"
REVIEW_REFUSED = "不通过"
