"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
# revision identifiers, used by Alembic.
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()

<%
    engine_names = config.attributes.get("versioning_engine_names", [""])
%>
% for engine_name in engine_names:

def upgrade_${engine_name}():
    ${context.get("%s_upgrades" % engine_name, "pass")}


def downgrade_${engine_name}():
    ${context.get("%s_downgrades" % engine_name, "pass")}

% endfor
